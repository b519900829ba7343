import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { lineageToDot } from '../../core/lineage/dot.js';
import { planGraphToDot } from '../../core/plan/graph-dot.js';
import { repoRoot } from '../helpers/cli.js';
import { sampleLineage, samplePlanGraph } from '../helpers/sample-graphs.js';

/** Where tests leave pictures for a person to look at (git-ignored). */
const outputDir = join(repoRoot, 'test-output');
const DOT = process.env['KNIT_DOT'] ?? '/usr/bin/dot';

function graphviz(args: string[], input: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(input);
  });
}

/** The text of an SVG's <text> elements, entities decoded (Graphviz writes `-` as &#45;). */
function svgTexts(svg: string): string[] {
  const named: Record<string, string> = { quot: '"', lt: '<', gt: '>', amp: '&', apos: "'" };
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]!.replace(/&(#\d+|#x[0-9a-f]+|\w+);/gi, (all, e: string) =>
      e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : (named[e] ?? all)),
  );
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// The real Graphviz draws what knit writes: a PNG for a person (test-output/), and an SVG whose
// text holds the labels, so a dot that Graphviz reads but draws wrong is caught too.
for (const [name, dot, labels] of [
  ['lineage', lineageToDot(sampleLineage), ['data c3c3c3c3', 'data e5e5e5e5-0', 'data e5e5e5e5-1', 'run 33333333', 'failed (exit 2)', 'knit/train:1', 'upload', '/in/data', 'log', 'note:say "hi" <b>#1</b>']],
  ['plan-graph', planGraphToDot(samplePlanGraph), ['plan 9a9a9a9a', 'knit/report:1', '(inactive)', '/out/clean → /in/data', 'knit/old "v0":1']],
] as const) {
  test(`Graphviz renders the ${name} dot to PNG and SVG`, async (t) => {
    const png = await graphviz(['-Tpng'], dot);
    t.is(png.code, 0, png.stderr);
    t.is(png.stderr, '', 'Graphviz has no warnings about the dot');
    t.deepEqual(png.stdout.subarray(0, 8), PNG_MAGIC);
    t.true(png.stdout.length > 10_000, `a PNG of ${png.stdout.length} bytes is too small to hold the graph`);
    await mkdir(outputDir, { recursive: true });
    const file = join(outputDir, `${name}.png`);
    await writeFile(file, png.stdout);
    t.deepEqual((await readFile(file)).subarray(0, 8), PNG_MAGIC);
    t.log(`picture: ${file}`);

    const svg = await graphviz(['-Tsvg'], dot);
    t.is(svg.code, 0, svg.stderr);
    const text = svg.stdout.toString('utf8');
    t.regex(text, /<svg[\s>]/);
    const texts = svgTexts(text);
    for (const label of labels) t.true(texts.includes(label), `the SVG has a text element ${JSON.stringify(label)}`);
  });
}
