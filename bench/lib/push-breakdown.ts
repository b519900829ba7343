/**
 * Where a push's time goes, one stage at a time, each timed alone on the same tree (issue 11):
 *   - read:  the files read through the kernel (`tar -c | cat`), the floor of any packing;
 *   - pack:  knit's client packing (planPack + writeArchive) into a sink that drops the bytes;
 *   - hash:  the same, through the server's SHA-256 digester;
 *   - write: the bytes of a made archive written and fsynced by a plain `cat > f; sync`;
 *   - store: the server's LocalBlobStore.put of that archive (digest, durable write, rename, fsync).
 * The whole push less these is what HTTP and the API add.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { planPack, writeArchive } from '../../core/archive/pack.js';
import { Digester } from '../../core/storage/digest.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';

export interface PushBreakdown {
  readS: number;
  packS: number;
  packHashS: number;
  writeS: number;
  storeS: number;
}

const drop = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

async function seconds(work: () => Promise<unknown> | unknown): Promise<number> {
  execFileSync('sync');
  const t0 = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function pushBreakdown(src: string, work: string): Promise<PushBreakdown> {
  const archive = join(work, 'breakdown.tar');
  const readS = await seconds(() => execFileSync('bash', ['-c', `tar -C '${src}' -cf - . | cat > /dev/null`]));
  const packS = await seconds(async () => writeArchive(src, await planPack(src), drop()));
  const packHashS = await seconds(async () => {
    const digester = new Digester();
    const done = pipeline(digester, drop());
    await writeArchive(src, await planPack(src), digester);
    digester.end();
    await done;
  });
  execFileSync('bash', ['-c', `tar -C '${src}' -cf '${archive}' .`]);
  const copy = join(work, 'breakdown-copy.tar');
  const writeS = await seconds(() => execFileSync('bash', ['-c', `cat '${archive}' > '${copy}' && sync '${copy}'`]));
  rmSync(copy, { force: true });
  const store = new LocalBlobStore(join(work, 'breakdown-store'));
  const storeS = await seconds(() => store.put('data/breakdown', createReadStream(archive, { highWaterMark: 1 << 20 })));
  rmSync(join(work, 'breakdown-store'), { recursive: true, force: true });
  rmSync(archive, { force: true });
  return { readS, packS, packHashS, writeS, storeS };
}

export function formatPushBreakdown(b: PushBreakdown, pushS: number, bytes: number): string {
  const line = (name: string, s: number) => `    ${name.padEnd(48)} ${s.toFixed(2).padStart(6)} s  ${(bytes / s / 1e6).toFixed(0).padStart(5)} MB/s`;
  return [
    '  push, stage by stage (each alone):',
    line('read the files (tar -c | cat)', b.readS),
    line('client packing (planPack + writeArchive)', b.packS),
    line('packing through the SHA-256 digester', b.packHashS),
    line('write + fsync of the archive (cat > f; sync)', b.writeS),
    line('server store put (digest, write, fsync, rename)', b.storeS),
    line('whole push (CLI → HTTP → API → store → row)', pushS),
  ].join('\n');
}
