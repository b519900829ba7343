import test from 'ava';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ArchiveChecker, UnsafeEntryError } from '../core/archive/entry-rules.js';
import { extractArchive } from '../core/archive/extract.js';
import { packDirectory, planPack } from '../core/archive/pack.js';
import { ArchiveValidator, MalformedArchiveError } from '../core/archive/validate.js';
import { craftTar, streamOf, type CraftedEntry } from './helpers/tar.js';
import { buildRoundTripTree, describeTree } from './helpers/tree.js';
import { tempDir } from './helpers/tmp.js';

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function validate(buf: Buffer): Promise<void> {
  await pipeline(streamOf(buf), new ArchiveValidator(), new Writable({ write: (_c, _e, cb) => cb() }));
}

const malicious: Array<{ name: string; entries: CraftedEntry[]; reason: RegExp; escapee: string }> = [
  {
    name: 'a ../ entry',
    entries: [{ name: '../escaped.txt', type: 'file', content: 'pwned' }],
    reason: /'\.\.'/,
    escapee: 'escaped.txt',
  },
  {
    name: 'a nested ../ entry',
    entries: [
      { name: 'ok/', type: 'directory' },
      { name: 'ok/../../escaped.txt', type: 'file', content: 'pwned' },
    ],
    reason: /'\.\.'/,
    escapee: 'escaped.txt',
  },
  {
    name: 'an absolute path',
    entries: [{ name: '/tmp/knit-absolute-escape.txt', type: 'file', content: 'pwned' }],
    reason: /absolute/,
    escapee: '/tmp/knit-absolute-escape.txt',
  },
  {
    name: 'a symlink pointing out, then a file written through it',
    entries: [
      { name: 'link', type: 'symlink', linkname: '..' },
      { name: 'link/escaped.txt', type: 'file', content: 'pwned' },
    ],
    reason: /outside the data root/,
    escapee: 'escaped.txt',
  },
  {
    name: 'an absolute symlink, then a file written through it',
    entries: [
      { name: 'link', type: 'symlink', linkname: '/tmp' },
      { name: 'link/escaped.txt', type: 'file', content: 'pwned' },
    ],
    reason: /absolute/,
    escapee: 'escaped.txt',
  },
  {
    name: 'an inside symlink used as a directory to write through',
    entries: [
      { name: 'real/', type: 'directory' },
      { name: 'link', type: 'symlink', linkname: 'real' },
      { name: 'link/escaped.txt', type: 'file', content: 'pwned' },
    ],
    reason: /written through the symlink/,
    escapee: 'escaped.txt',
  },
  {
    name: 'a symlink climbing back out through another symlink',
    entries: [
      { name: 'a/', type: 'directory' },
      { name: 'a/up', type: 'symlink', linkname: '..' },
      { name: 'escape', type: 'symlink', linkname: 'a/up/..' },
    ],
    reason: /'\.\.' after a path component/,
    escapee: 'escape',
  },
  {
    name: 'a hard link to a file outside',
    entries: [{ name: 'hard', type: 'link', linkname: '../outside.txt' }],
    reason: /'\.\.'/,
    escapee: 'hard',
  },
  {
    name: 'a device node',
    entries: [{ name: 'dev', type: 'character-device' }],
    reason: /not allowed/,
    escapee: 'dev',
  },
];

for (const m of malicious) {
  test(`extraction rejects ${m.name} and writes nothing outside DEST`, async (t) => {
    const sandbox = await tempDir();
    t.teardown(sandbox.cleanup);
    const dest = join(sandbox.path, 'dest');
    await mkdir(dest);
    const before = await readdir(sandbox.path);
    const err = await t.throwsAsync(extractArchive(streamOf(await craftTar(m.entries)), dest));
    t.true(err instanceof UnsafeEntryError, `${err?.name}: ${err?.message}`);
    t.regex(err!.message, m.reason);
    t.deepEqual(await readdir(sandbox.path), before, 'nothing appeared beside DEST');
    await t.throwsAsync(stat(m.escapee.startsWith('/') ? m.escapee : join(sandbox.path, m.escapee)), { code: 'ENOENT' });
  });

  test(`upload validation rejects ${m.name}`, async (t) => {
    const err = await t.throwsAsync(validate(await craftTar(m.entries)));
    t.true(err instanceof UnsafeEntryError, `${err?.name}: ${err?.message}`);
    t.regex(err!.message, m.reason);
  });
}

test('upload validation rejects compressed, truncated, empty and non-tar bodies', async (t) => {
  const good = await craftTar([{ name: 'a.txt', type: 'file', content: 'x'.repeat(5000) }]);
  for (const [what, body, re] of [
    ['gzip', gzipSync(good), /compressed/],
    ['truncated', good.subarray(0, 1536), /end-of-archive|cut short|middle/],
    ['empty', Buffer.alloc(0), /empty/],
    ['garbage', Buffer.from('hello, this is not a tar archive at all'.repeat(40)), /tar/],
  ] as const) {
    const err = await t.throwsAsync(validate(body), undefined, what);
    t.true(err instanceof MalformedArchiveError, `${what}: ${err?.name}: ${err?.message}`);
    t.regex(err!.message, re, what);
  }
  await t.notThrowsAsync(validate(good));
});

test('the checker accepts what an honest tree contains', (t) => {
  const c = new ArchiveChecker();
  t.is(c.check({ path: './', type: 'directory' }).path, '');
  t.is(c.check({ path: 'a/', type: 'directory' }).path, 'a');
  t.is(c.check({ path: './a/b.txt', type: 'file' }).path, 'a/b.txt');
  t.is(c.check({ path: 'a/link', type: 'symlink', linkpath: '../a/b.txt' }).kind, 'symlink');
  t.is(c.check({ path: 'a/hard', type: 'hardlink', linkpath: 'a/b.txt' }).kind, 'hardlink');
  t.throws(() => c.check({ path: 'a/b.txt', type: 'file' }), { message: /twice/ });
});

test('pack then extract reproduces a tree byte for byte, with modes and links', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  const src = join(dir.path, 'src');
  await mkdir(src);
  await buildRoundTripTree(src, 3 << 20);
  const plan = await planPack(src);
  const archive = await collect(packDirectory(src, plan));
  const again = await collect(packDirectory(src, await planPack(src)));
  t.true(archive.equals(again), 'packing is deterministic');
  const out = join(dir.path, 'out');
  await mkdir(out);
  const stats = await extractArchive(streamOf(archive), out);
  t.is(stats.symlinks, 2);
  t.deepEqual(await describeTree(out), await describeTree(src));
});

test('packing refuses a tree whose symlink points outside it, before sending anything', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  await writeFile(join(dir.path, 'secret'), 'x');
  await mkdir(join(dir.path, 'src'));
  const { symlink } = await import('node:fs/promises');
  await symlink('../secret', join(dir.path, 'src', 'escape'));
  const err = await t.throwsAsync(planPack(join(dir.path, 'src')));
  t.regex(err!.message, /outside the data root/);
  t.is(await readFile(join(dir.path, 'secret'), 'utf8'), 'x');
});

async function interopTree(root: string): Promise<void> {
  await buildRoundTripTree(root, 2 << 20);
  const long = join(root, 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
  await mkdir(long, { recursive: true });
  await writeFile(join(long, `${'d'.repeat(120)}.txt`), 'a path far beyond 100 bytes');
  const { link, symlink } = await import('node:fs/promises');
  await link(join(root, 'README.md'), join(root, 'hard-link-to-readme.md'));
  await writeFile(join(root, 'a name\nwith a newline.txt'), 'pax records carry any byte');
  await symlink(`${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/${'d'.repeat(120)}.txt`, join(root, 'long-link'));
}

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  test(`archives made by GNU tar (--format=${format}) validate and extract identically`, async (t) => {
    const dir = await tempDir();
    t.teardown(dir.cleanup);
    const src = join(dir.path, 'src');
    await mkdir(src);
    if (format === 'ustar') await buildRoundTripTree(src, 1 << 20);
    else await interopTree(src);
    const { execFileSync } = await import('node:child_process');
    const archive = execFileSync('tar', ['-C', src, `--format=${format}`, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    await t.notThrowsAsync(validate(archive));
    const out = join(dir.path, 'out');
    await mkdir(out);
    await extractArchive(streamOf(archive), out);
    t.deepEqual(await describeTree(out), await describeTree(src));
  });
}

test('archives knit writes extract with GNU tar to the same tree', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  const src = join(dir.path, 'src');
  await mkdir(src);
  await interopTree(src);
  const archive = await collect(packDirectory(src, await planPack(src)));
  const out = join(dir.path, 'out');
  await mkdir(out);
  const { execFileSync } = await import('node:child_process');
  execFileSync('tar', ['-C', out, '-xf', '-'], { input: archive });
  t.deepEqual(await describeTree(out), await describeTree(src));
  const listing = execFileSync('tar', ['-tvf', '-'], { input: archive }).toString();
  t.regex(listing, /hard-link-to-readme\.md link to README\.md|README\.md link to hard-link-to-readme\.md/);
});

test('names over 255 bytes and paths over 4096 bytes are refused, naming the entry', (t) => {
  const longName = `dir/${'n'.repeat(5000)}`;
  const c = new ArchiveChecker();
  const err = t.throws(() => c.check({ path: longName, type: 'file' }), { instanceOf: UnsafeEntryError });
  t.regex(err!.message, /component of 5000 bytes.*at most 255 bytes/);
  t.true(err!.entryPath.length < 100, 'the message quotes a shortened entry path');
  // 128 two-byte characters: 128 characters but 256 bytes.
  t.throws(() => new ArchiveChecker().check({ path: 'é'.repeat(128), type: 'file' }), { message: /at most 255 bytes/ });
  t.notThrows(() => new ArchiveChecker().check({ path: 'é'.repeat(127), type: 'file' }));
  const deep = Array.from({ length: 17 }, () => 'd'.repeat(250)).join('/');
  t.throws(() => new ArchiveChecker().check({ path: deep, type: 'directory' }), { message: /at most 4096 bytes/ });
  t.throws(() => new ArchiveChecker().check({ path: 'link', type: 'symlink', linkpath: `${'x/'.repeat(2100)}y` }), { message: /longer than 4096 bytes/ });
});

test('a tar header with an unreadable size is a malformed archive, not an internal error', async (t) => {
  const tar = await craftTar([{ name: 'a.txt', type: 'file', content: '' }]);
  tar[124] = 0x81;
  tar.fill(' ', 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const err = await t.throwsAsync(validate(tar));
  t.true(err instanceof MalformedArchiveError, `${err?.name}: ${err?.message}`);
});

test('files of every size around the read-ahead bounds pack to the bytes GNU tar reads back, in order', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  const src = join(dir.path, 'src');
  await mkdir(src);
  // Empty, around a block, around the whole-file read (1 MiB) and past it, and many small ones in
  // a row, so read-ahead runs deep; one name long enough to need a pax header in its record.
  const sizes = [0, 1, 511, 512, 513, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20];
  for (const [i, size] of sizes.entries()) await writeFile(join(src, `s${String(i).padStart(2, '0')}`), Buffer.alloc(size, i + 1));
  for (let i = 0; i < 40; i++) await writeFile(join(src, `t${String(i).padStart(2, '0')}`), `small file ${i}\n`.repeat(i));
  await writeFile(join(src, `${'long-name-'.repeat(20)}.txt`), 'behind a pax header');
  const archive = await collect(packDirectory(src, await planPack(src)));
  t.true(archive.equals(await collect(packDirectory(src, await planPack(src)))), 'packing is deterministic');
  const { execFileSync } = await import('node:child_process');
  const listed = execFileSync('tar', ['-tf', '-'], { input: archive, maxBuffer: 1 << 20 }).toString().trim().split('\n');
  t.deepEqual(listed, [...listed].sort(), 'entries in sorted order');
  const out = join(dir.path, 'out');
  await mkdir(out);
  execFileSync('tar', ['-C', out, '-xf', '-'], { input: archive, maxBuffer: 1 << 20 });
  t.deepEqual(await describeTree(out), await describeTree(src));
});

test('a file that shrinks or grows after the plan is refused, naming it', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.cleanup);
  for (const [name, size, after, reason] of [
    ['small', 1000, 10, /small shrank while it was being pushed/],
    ['small', 1000, 2000, /small changed size while it was being pushed/],
    ['large', 2 << 20, 10, /large shrank while it was being pushed/],
    ['large', 2 << 20, 3 << 20, /large changed size while it was being pushed/],
  ] as const) {
    const src = join(dir.path, `${name}-${after}`);
    await mkdir(src);
    for (let i = 0; i < 20; i++) await writeFile(join(src, `a${i}`), 'before');
    await writeFile(join(src, name), Buffer.alloc(size, 1));
    const plan = await planPack(src);
    await writeFile(join(src, name), Buffer.alloc(after, 2));
    await t.throwsAsync(collect(packDirectory(src, plan)), { message: reason });
  }
});
