import test from 'ava';
import { KnitError } from '../core/errors/knit-error.js';
import { assertTransition, canTransition, RunStatus, sourcesOf, TERMINAL, TRANSITIONS } from '../core/run/status.js';

const all = RunStatus.options;

test('the table lists every status, and every target is a status', (t) => {
  t.deepEqual(Object.keys(TRANSITIONS).sort(), [...all].sort());
  for (const targets of Object.values(TRANSITIONS)) for (const to of targets) t.true(all.includes(to));
});

test('the life of a run follows the table', (t) => {
  const happy: RunStatus[] = ['waiting', 'ready', 'starting', 'running', 'completing', 'done'];
  for (let i = 1; i < happy.length; i++) t.true(canTransition(happy[i - 1]!, happy[i]!), `${happy[i - 1]} -> ${happy[i]}`);
  const failing: RunStatus[] = ['waiting', 'ready', 'starting', 'running', 'aborting', 'failed'];
  for (let i = 1; i < failing.length; i++) t.true(canTransition(failing[i - 1]!, failing[i]!));
  t.true(canTransition('deactivated', 'waiting'), 'reactivation');
  t.true(canTransition('waiting', 'deactivated'), 'deactivation before it begins');
  t.true(canTransition('done', 'waiting') && canTransition('failed', 'waiting'), 'retry');
  t.true(canTransition('done', 'invalidated') && canTransition('failed', 'invalidated'), 'rm');
});

test('illegal transitions are refused with a 409 naming both states', (t) => {
  const illegal: Array<[RunStatus, RunStatus]> = [
    ['done', 'running'],
    ['failed', 'done'],
    ['invalidated', 'waiting'],
    ['running', 'waiting'],
    ['running', 'deactivated'],
    ['completing', 'failed'],
    ['aborting', 'done'],
    ['ready', 'done'],
    ['deactivated', 'running'],
    ['waiting', 'running'],
  ];
  for (const [from, to] of illegal) {
    t.false(canTransition(from, to), `${from} -> ${to}`);
    const err = t.throws(() => assertTransition('r1', from, to), { instanceOf: KnitError });
    t.is(err?.status, 409);
    t.regex(err!.message, new RegExp(`is ${from}; it cannot become ${to}`));
  }
});

test('terminal states only leave through retry or removal', (t) => {
  t.deepEqual(TRANSITIONS.invalidated, []);
  for (const s of TERMINAL) for (const to of TRANSITIONS[s]) t.true(['waiting', 'invalidated'].includes(to));
});

test('sourcesOf is the table read backwards', (t) => {
  for (const to of all) for (const from of all) t.is(sourcesOf(to).includes(from), canTransition(from, to));
});
