// Unit tests of the client's pure modules, run by node's test runner
// (tests/browser/test_js_units.py calls `node --test` on this folder).
import assert from 'node:assert/strict';
import test from 'node:test';

import { RoomLog, storeLabel } from '../../../src/parley/web/static/js/messages.js';
import { gauge, parseMetrics, total } from '../../../src/parley/web/static/js/prom.js';

const at = (s) => `2026-11-30T10:00:0${s}.000000Z`;
const msg = (id, content, updated = 0, deleted = false) => ({
  id, roomId: 'r', content, deleted, createdAt: at(0), updatedAt: at(updated),
});

test('merging the same message twice changes nothing', () => {
  const log = new RoomLog('r');
  assert.equal(log.merge(msg('01a1', 'hi')), true);
  assert.equal(log.merge(msg('01a1', 'hi')), false);
  assert.equal(log.byId.size, 1);
});

test('the newest updatedAt wins, in whatever order versions arrive', () => {
  const log = new RoomLog('r');
  log.merge(msg('01a1', 'edited', 2));
  assert.equal(log.merge(msg('01a1', 'original', 0)), false);
  assert.equal(log.byId.get('01a1').content, 'edited');
});

test('a tombstone replaces a message and is never undone', () => {
  const log = new RoomLog('r');
  log.merge(msg('01a1', 'hi', 0));
  assert.equal(log.merge(msg('01a1', 'This message has been deleted.', 1, true)), true);
  assert.equal(log.merge(msg('01a1', 'hi again', 5)), false);
  assert.equal(log.byId.get('01a1').deleted, true);
});

test('messages sort by id and lastId is the newest seen', () => {
  const log = new RoomLog('r');
  for (const id of ['01a3', '01a1', '01a2']) log.merge(msg(id, id));
  assert.deepEqual(log.sorted().map((m) => m.id), ['01a1', '01a2', '01a3']);
  assert.equal(log.lastId, '01a3');
});

test('store labels', () => {
  assert.equal(storeLabel('mongodb'), 'MongoDB');
  assert.equal(storeLabel('mongodb,postgresql'), 'MongoDB + PostgreSQL');
});

test('Prometheus text: counters by label, gauges', () => {
  const samples = parseMetrics([
    '# TYPE parley_db_operations_total counter',
    'parley_db_operations_total{outcome="fallback",store="postgresql",operation="A"} 3',
    'parley_db_operations_total{outcome="fallback",store="postgresql",operation="B"} 4',
    'parley_db_operations_total{outcome="ok",store="mongodb",operation="A"} 9',
    'parley_breaker_open_mongodb 1.0',
    '',
  ].join('\n'));
  assert.equal(total(samples, 'parley_db_operations_total', { outcome: 'fallback', store: 'postgresql' }), 7);
  assert.equal(total(samples, 'parley_db_operations_total', { outcome: 'fallback', store: 'mongodb' }), 0);
  assert.equal(gauge(samples, 'parley_breaker_open_mongodb'), 1);
  assert.equal(gauge(samples, 'missing'), null);
});
