import { describe, expect, it } from 'vitest';
import { PipelineMetrics } from '../src/index.js';
import { memoryMeter } from './support.js';

describe('PipelineMetrics', () => {
  it('reports counts kept by the code as a counter, one series per key, read at each collection', async () => {
    const { meter, collect } = memoryMeter();
    const counts = { applied: 3, rejected: 0 };
    new PipelineMetrics(meter).countBy('tl.test.events', 'Events by outcome', 'tl.outcome', () => counts);
    const series = async () =>
      (await collect()).get('tl.test.events')!.map((p) => [p.attributes['tl.outcome'], p.value]);
    expect(await series()).toEqual([
      ['applied', 3],
      ['rejected', 0],
    ]);
    counts.rejected = 2;
    expect(await series()).toEqual([
      ['applied', 3],
      ['rejected', 2],
    ]);
  });
});
