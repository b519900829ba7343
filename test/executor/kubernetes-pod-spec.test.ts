import test from 'ava';
import '../../executor/kubernetes/kubernetes-executor.js';
test('placeholder compile', (t) => t.pass());
