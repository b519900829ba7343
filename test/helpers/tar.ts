import { Readable } from 'node:stream';

export type CraftedEntry =
  | { name: string; type: 'file'; content: string; mode?: number }
  | { name: string; type: 'directory'; mode?: number }
  | { name: string; type: 'symlink' | 'link'; linkname: string }
  | { name: string; type: 'fifo' | 'character-device' };

const FLAGS = { file: '0', link: '1', symlink: '2', 'character-device': '3', directory: '5', fifo: '6' } as const;

/**
 * A deliberately separate, minimal ustar writer for tests: it writes whatever it is given,
 * including entries no honest packer would produce, and checks knit's reader independently.
 */
function header(name: string, flag: string, size: number, mode: number, linkname = ''): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'ascii');
  b.write('0000000\0', 108, 'ascii');
  b.write('0000000\0', 116, 'ascii');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  b.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 'ascii');
  b.write(flag, 156, 'ascii');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\0' + '00', 257, 'ascii');
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

export async function craftTar(entries: CraftedEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === 'file') {
      const body = Buffer.from(e.content);
      parts.push(header(e.name, FLAGS.file, body.length, e.mode ?? 0o644), body, Buffer.alloc((512 - (body.length % 512)) % 512));
    } else if (e.type === 'directory') parts.push(header(e.name, FLAGS.directory, 0, e.mode ?? 0o755));
    else if (e.type === 'symlink' || e.type === 'link') parts.push(header(e.name, FLAGS[e.type], 0, 0o777, e.linkname));
    else parts.push(header(e.name, FLAGS[e.type], 0, 0o644));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}
