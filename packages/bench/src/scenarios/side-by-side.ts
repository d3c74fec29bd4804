/**
 * Two variants of the same run compared on a shared, noisy machine: rounds alternate between them, so both see the
 * same conditions, and the ratio compares medians.
 */
import type { PipelineRow } from '../pipeline-run.js';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface SideBySide<A extends string, B extends string> {
  rounds: (Record<A, PipelineRow> & Record<B, PipelineRow>)[];
  /** Median throughput of `b` over median throughput of `a`. */
  ratio: number;
}

/** Runs `a` then `b`, `rounds` times, and compares their median throughputs. */
export async function alternate<A extends string, B extends string>(
  names: [A, B],
  run: (variant: A | B, round: number) => Promise<PipelineRow>,
  rounds: number,
): Promise<SideBySide<A, B>> {
  const [a, b] = names;
  const done: SideBySide<A, B>['rounds'] = [];
  for (let i = 1; i <= rounds; i++) {
    const first = await run(a, i);
    const second = await run(b, i);
    done.push({ [a]: first, [b]: second } as Record<A, PipelineRow> & Record<B, PipelineRow>);
  }
  const throughput = (name: A | B) =>
    median(done.map((r) => (r as Record<A | B, PipelineRow>)[name].eventsPerSecond));
  return { rounds: done, ratio: throughput(b) / throughput(a) };
}
