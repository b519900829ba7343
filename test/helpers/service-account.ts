import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ServiceAccountKey {
  /** For GOOGLE_APPLICATION_CREDENTIALS. */
  readonly file: string;
  readonly clientEmail: string;
  /** The public half, to check signatures with (fake-gcs-server checks none). */
  readonly publicKey: KeyObject;
}

/**
 * A fresh RSA key written as a service-account key file, in the shape Google's console writes
 * one: what Google's clients sign URLs with. Nothing ever asks Google about it.
 */
export async function writeServiceAccountKey(dir: string, opts: { privateKey?: string } = {}): Promise<ServiceAccountKey> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'knit-signer@knit-test.iam.gserviceaccount.com';
  const file = join(dir, `service-account-${Date.now()}-${Math.floor(Math.random() * 1e6)}.json`);
  await writeFile(
    file,
    JSON.stringify({
      type: 'service_account',
      project_id: 'knit-test',
      private_key_id: 'test-key',
      private_key: opts.privateKey ?? keys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: clientEmail,
      client_id: '1',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
  );
  return { file, clientEmail, publicKey: keys.publicKey };
}
