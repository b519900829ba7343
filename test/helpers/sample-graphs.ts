import { Lineage } from '../../core/lineage/graph.js';
import type { PlanGraph } from '../../core/plan/graph-dot.js';

const uuid = (head: string, tail: string) => `${head}-0000-4000-8000-${tail.padStart(12, '0')}`;
const system = (id: string, at: string) => [`knit#id:${id}`, `knit#timestamp:${at}`];

export const ids = {
  dataset: uuid('a1a1a1a1', 'a'),
  config: uuid('b2b2b2b2', 'b'),
  clean: uuid('c3c3c3c3', 'c'),
  model: uuid('d4d4d4d4', 'd'),
  // Two ids sharing their first 8 characters: their short ids must grow to tell them apart.
  evalOut: uuid('e5e5e5e5', '1'),
  evalLog: uuid('e5e5e5e5', '2').replace('-0000-', '-1111-'),
  report: uuid('f6f6f6f6', 'f'),
  prepLog: uuid('0a0a0a0a', '1'),
  prep: uuid('11111111', '1'),
  train: uuid('22222222', '2'),
  evaluate: uuid('33333333', '3'),
  summarize: uuid('44444444', '4'),
  planPrep: uuid('9a9a9a9a', '1'),
  planTrain: uuid('9b9b9b9b', '2'),
  planEval: uuid('9c9c9c9c', '3'),
  planReport: uuid('9d9d9d9d', '4'),
};

const data = (id: string, at: string, tags: string[], transient: 'processing' | 'failed' | null = null) =>
  ({ kind: 'data' as const, id, tags: [...system(id, at), ...tags], createdAt: at, transient });
const run = (id: string, planId: string, image: string, status: string, exitCode: number | null) =>
  ({ kind: 'run' as const, id, planId, image, status, exitCode, upload: false });
const upload = (dataId: string) => ({ kind: 'run' as const, id: `upload-${dataId}`, planId: null, image: null, status: 'done', exitCode: null, upload: true });

/**
 * A known lineage, traced from the cleaned dataset: two uploads (one an input-less root of the
 * traced Data), a done prep run with a log edge, a diamond (train and a failed evaluate both read
 * the cleaned Data, and both feed the report), a failed transient output, a running run with a
 * processing output, and a tag that needs quoting in every format.
 */
export const sampleLineage: Lineage = Lineage.parse({
  root: ids.clean,
  nodes: [
    data(ids.clean, '2026-01-02T03:05:00.000Z', ['type:clean', 'project:iris']),
    data(ids.dataset, '2026-01-02T03:04:05.678Z', ['project:iris', 'type:dataset', 'note:say "hi" <b>#1</b>']),
    upload(ids.dataset),
    data(ids.config, '2026-01-02T03:04:06.000Z', ['type:config']),
    upload(ids.config),
    run(ids.prep, ids.planPrep, 'knit/prep:1', 'done', 0),
    data(ids.prepLog, '2026-01-02T03:05:00.001Z', ['type:log']),
    run(ids.train, ids.planTrain, 'knit/train:1', 'done', 0),
    data(ids.model, '2026-01-02T03:06:00.000Z', ['type:model']),
    run(ids.evaluate, ids.planEval, 'knit/eval:1', 'failed', 2),
    data(ids.evalOut, '2026-01-02T03:06:30.000Z', ['type:metrics'], 'failed'),
    data(ids.evalLog, '2026-01-02T03:06:30.001Z', ['type:log']),
    run(ids.summarize, ids.planReport, 'knit/report:1', 'running', null),
    data(ids.report, '2026-01-02T03:07:00.000Z', ['type:report'], 'processing'),
  ],
  edges: [
    { from: `upload-${ids.dataset}`, to: ids.dataset, label: 'upload' },
    { from: `upload-${ids.config}`, to: ids.config, label: 'upload' },
    { from: ids.dataset, to: ids.prep, label: '/in/raw' },
    { from: ids.prep, to: ids.clean, label: '/out/clean' },
    { from: ids.prep, to: ids.prepLog, label: 'log' },
    { from: ids.clean, to: ids.train, label: '/in/data' },
    { from: ids.config, to: ids.train, label: '/in/config' },
    { from: ids.train, to: ids.model, label: '/out/model' },
    { from: ids.clean, to: ids.evaluate, label: '/in/data' },
    { from: ids.evaluate, to: ids.evalOut, label: '/out/metrics' },
    { from: ids.evaluate, to: ids.evalLog, label: 'log' },
    { from: ids.model, to: ids.summarize, label: '/in/model' },
    { from: ids.evalOut, to: ids.summarize, label: '/in/metrics' },
    { from: ids.summarize, to: ids.report, label: '/out/report' },
  ],
});

const plan = (n: string) => uuid(`9${n}9${n}9${n}9${n}`, n);

/** A known plan graph: a diamond (prep feeds train and eval, both feed report), an inactive plan, and a two-plan cycle. */
export const samplePlanGraph: PlanGraph = {
  plans: [
    { id: ids.planPrep, image: 'knit/prep:1', active: true },
    { id: ids.planTrain, image: 'knit/train:1', active: true },
    { id: ids.planEval, image: 'knit/eval:1', active: true },
    { id: ids.planReport, image: 'knit/report:1', active: true },
    { id: plan('e'), image: 'knit/old "v0":1', active: false },
    { id: plan('f'), image: 'knit/loop-a:1', active: true },
    { id: plan('0'), image: 'knit/loop-b:1', active: true },
  ],
  edges: [
    { from: ids.planPrep, output: '/out/clean', to: ids.planTrain, input: '/in/data' },
    { from: ids.planPrep, output: '/out/clean', to: ids.planEval, input: '/in/data' },
    { from: ids.planTrain, output: '/out/model', to: ids.planReport, input: '/in/model' },
    { from: ids.planEval, output: '/out/metrics', to: ids.planReport, input: '/in/metrics' },
    { from: ids.planPrep, output: 'log', to: ids.planReport, input: '/in/logs' },
    { from: plan('f'), output: '/out', to: plan('0'), input: '/in' },
    { from: plan('0'), output: '/out', to: plan('f'), input: '/in' },
  ],
};
