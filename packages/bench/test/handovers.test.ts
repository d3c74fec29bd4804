import { expect, it } from 'vitest';
import { handoversOf } from '../src/pipeline-run.js';

it('reads the hand-overs of the services’ logs, and where the slowest pause went', () => {
  const line = (fields: Record<string, unknown>) =>
    JSON.stringify({ level: 30, msg: `state: acquired partition ${String(fields.partition)}`, ...fields });
  const outputs = [
    [
      line({ partition: 1, previousOwner: '', pauseMs: null }),
      line({ partition: 2, previousOwner: 'state-0', pauseMs: 40, noticedAfterMs: 30, queuedMs: 10 }),
      'not json, acquired partition 9',
    ].join('\n'),
    [
      line({
        partition: 3,
        previousOwner: 'state-1',
        pauseMs: 900,
        noticedAfterMs: 120,
        storedAfterMs: 100,
        deliveredAfterMs: 20,
        loopStoodStillMs: 15,
        gcMs: 4,
        queuedMs: 780,
      }),
    ].join('\n'),
  ];
  const h = handoversOf(outputs, ['state-0', 'state-2']);
  expect(h.slowest).toEqual({
    service: 'state-2',
    partition: 3,
    previousOwner: 'state-1',
    pauseMs: 900,
    noticedAfterMs: 120,
    queuedMs: 780,
    storedAfterMs: 100,
    deliveredAfterMs: 20,
    loopStoodStillMs: 15,
    gcMs: 4,
  });
  expect(h.pauseMaxMs).toBe(900);
});
