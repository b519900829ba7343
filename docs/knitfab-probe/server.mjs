// A fake Knitfab API, a research tool for docs/knitfab-compat.md (not part of knit): logs every
// request (method, url, headers, body, trailers) to $KFPROBE_DIR/log.jsonl and answers with
// hand-written Knitfab-shaped JSON, to observe what Knitfab's real CLI sends and accepts.
// $KFPROBE_DIR/mode (one word) switches the answers; see the appendix of the document.
import http from 'node:http';
import fs from 'node:fs';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';

const PORT = Number(process.env.PORT ?? 7999);
const DIR = process.env.KFPROBE_DIR ?? '/tmp/kfprobe';
fs.mkdirSync(DIR, { recursive: true });
const MODE = () => (fs.existsSync(`${DIR}/mode`) ? fs.readFileSync(`${DIR}/mode`, 'utf8').trim() : '');
const log = (o) => fs.appendFileSync(`${DIR}/log.jsonl`, JSON.stringify(o) + '\n');

const ts = '2026-12-03T17:00:00.123+00:00';
const planSummary = { planId: 'p-1', image: 'repo.example/train:1.0' };
const uploadPlan = { planId: 'p-up', name: 'knit#uploaded' };
const runSummary = (id, plan = planSummary, status = 'done') => ({ runId: id, status, updatedAt: ts, exit: { code: 0, message: '' }, plan });
const tags = (id) => [`knit#id:${id}`, `knit#timestamp:${ts}`, 'type:dataset'];
const dataDetail = (id) => ({
  knitId: id,
  tags: tags(id),
  upstream: { mountpoint: { path: '/out', tags: [] }, run: runSummary('r-up', uploadPlan) },
  downstreams: [{ mountpoint: { path: '/in/dataset', tags: ['type:dataset'] }, run: runSummary('r-1') }],
  nomination: [{ path: '/in/dataset', tags: ['type:dataset'], plan: planSummary }],
});
const planDetail = {
  ...planSummary,
  annotations: ['owner=me'],
  inputs: [{ path: '/in/dataset', tags: ['type:dataset'], upstreams: [] }],
  outputs: [{ path: '/out/model', tags: ['type:model'], downstreams: [] }],
  log: { tags: ['type:log'], downstreams: [] },
  active: true,
  resources: { cpu: '1', memory: '1Gi' },
};
const runDetail = (id) => ({
  ...runSummary(id),
  inputs: [{ path: '/in/dataset', tags: ['type:dataset'], knitId: 'd-1' }],
  outputs: [{ path: '/out/model', tags: ['type:model'], knitId: 'd-2' }],
  log: { tags: ['type:log'], knitId: 'd-3' },
});

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function tarGz(withDirs) {
  // A small tree; GNU tar for the directory-entry variant, a file-only list otherwise.
  const dir = `${DIR}/serve-src`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(`${dir}/sub`, { recursive: true });
  fs.writeFileSync(`${dir}/a.txt`, 'hello\n');
  fs.writeFileSync(`${dir}/sub/b.txt`, 'world\n');
  const args = withDirs ? ['-C', dir, '-cf', '-', '.'] : ['-C', dir, '-cf', '-', 'a.txt', 'sub/b.txt'];
  return zlib.gzipSync(execFileSync('tar', args));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const entry = { method: req.method, url: req.url, headers: req.headers, trailers: req.trailers, bodyBytes: body.length };
    const ct = String(req.headers['content-type'] ?? '');
    if (ct.includes('json')) entry.body = body.toString('utf8');
    else if (body.length) {
      const f = `${DIR}/body-${Date.now()}.bin`;
      fs.writeFileSync(f, body);
      entry.bodyFile = f;
      entry.bodyMd5 = crypto.createHash('md5').update(body).digest('hex');
    }
    log(entry);
    const mode = MODE();
    const u = new URL(req.url, 'http://x');
    const p = u.pathname.replace(/\/$/, '');
    if (mode === 'error-reason') return json(res, 404, { reason: 'not found', advice: 'check the id' });
    if (mode === 'error-message') return json(res, 409, { message: 'conflict\nsomething' });
    if (mode === 'error-text') { res.writeHead(500, { 'content-type': 'text/plain' }); return res.end('boom'); }
    if (mode === 'badtag' && req.method === 'GET' && p === '/api/data') return json(res, 200, [{ ...dataDetail('d-1'), tags: ['knit#transient:purged'] }]);
    if (mode === 'badts' && req.method === 'GET' && p === '/api/data') return json(res, 200, [{ ...dataDetail('d-1'), tags: ['knit#timestamp:2026-12-03 17:00'] }]);
    if (mode === 'superset' && req.method === 'GET' && p === '/api/data') return json(res, 200, [{ ...dataDetail('d-1'), id: 'd-1', size: 3, digest: 'x', origin: { type: 'upload' }, upstream: undefined }]);
    if (mode === 'digestimg' && p.startsWith('/api/plans/')) return json(res, 200, { ...planDetail, image: 'repo/x:1@sha256:' + 'a'.repeat(64) });
    if (mode === 'noimgtag' && p.startsWith('/api/plans/')) return json(res, 200, { ...planDetail, image: 'repo/x' });
    if (req.method === 'POST' && p === '/api/data') return json(res, 200, dataDetail('d-new'));
    if (req.method === 'PUT' && p.startsWith('/api/data/')) return json(res, 200, dataDetail(p.split('/')[3]));
    if (req.method === 'GET' && p === '/api/data') {
      const id = (u.searchParams.getAll('tag').find((t) => t.startsWith('knit#id:')) ?? 'knit#id:d-1').slice(8);
      return json(res, 200, [dataDetail(id)]);
    }
    if (req.method === 'GET' && p.startsWith('/api/data/')) {
      // mode "file": serve $KFPROBE_DIR/serve.tar.gz as it is, to try any archive on kf.
      const gz = mode === 'file' ? fs.readFileSync(`${DIR}/serve.tar.gz`) : tarGz(mode === 'dirs');
      const md5 = crypto.createHash('md5').update(gz).digest('hex');
      const headers = { 'content-type': 'application/tar+gzip' };
      if (mode !== 'no-trailer') headers.trailer = 'x-checksum-md5';
      if (mode === 'ce-gzip') headers['content-encoding'] = 'gzip';
      res.writeHead(200, headers);
      res.write(gz);
      if (mode === 'bad-trailer') res.addTrailers({ 'x-checksum-md5': '0'.repeat(32) });
      else if (mode !== 'no-trailer') res.addTrailers({ 'x-checksum-md5': md5 });
      return res.end();
    }
    if (p === '/api/plans' && req.method === 'POST') return json(res, 200, planDetail);
    if (p === '/api/plans' && req.method === 'GET') return json(res, 200, [planDetail]);
    if (p.startsWith('/api/plans/')) return json(res, 200, planDetail);
    if (p === '/api/runs') return json(res, 200, [runDetail('r-1')]);
    if (p.endsWith('/log')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('line one\n');
      return setTimeout(() => res.end('line two\n'), 200);
    }
    if (req.method === 'DELETE' && p.startsWith('/api/runs/')) { res.writeHead(204); return res.end(); }
    if (p.endsWith('/retry')) { res.writeHead(200); return res.end(); }
    if (p.startsWith('/api/runs/')) return json(res, 200, runDetail(p.split('/')[3]));
    json(res, 404, { message: 'no such route' });
  });
});
server.listen(PORT, '127.0.0.1', () => console.log(`listening ${PORT}`));
