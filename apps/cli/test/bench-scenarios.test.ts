/** The CLI names the benchmark scenarios without loading the benchmarks (an optional part): the lists must agree. */
import { SCENARIOS } from '@throughline/bench';
import { describe, expect, it } from 'vitest';
import { BENCH_SCENARIOS } from '../src/commands/bench.js';

describe('throughline bench', () => {
  it('offers exactly the scenarios @throughline/bench runs', () => {
    expect([...BENCH_SCENARIOS]).toEqual([...SCENARIOS]);
  });
});
