/** Where each stage's time went, summed over its turns (from the runtime's `TurnStats`). */
import { STAGE_NAMES, type StageName } from '@throughline/pipeline';
import type { TurnStats } from '@throughline/runtime';

export { STAGE_NAMES, type StageName };

/**
 * A stage's `TurnStats` summed over its turns (queue wait: the oldest message's wait of each turn; dependency
 * waits per dependency; compute: duration less every dependency wait), and how many turns.
 */
export type StageTime = Omit<TurnStats, 'stage' | 'partition' | 'startedAtMs'> & { turns: number };

function emptyStageTime(): StageTime {
  return {
    turns: 0,
    messages: 0,
    events: 0,
    queueWaitMs: 0,
    durationMs: 0,
    dependencyMs: {},
    computeMs: 0,
    externalCalls: 0,
    retries: 0,
    deadLettered: 0,
  };
}

/** Accumulates `TurnStats` per stage; cheap enough to call on every turn. */
export class TurnAccounting {
  private readonly stages = new Map<StageName, StageTime>(STAGE_NAMES.map((s) => [s, emptyStageTime()]));

  record(stage: StageName, stats: TurnStats): void {
    const t = this.stages.get(stage);
    if (t === undefined) return;
    t.turns++;
    t.messages += stats.messages;
    t.events += stats.events;
    t.queueWaitMs += stats.queueWaitMs;
    t.durationMs += stats.durationMs;
    t.computeMs += stats.computeMs;
    t.externalCalls += stats.externalCalls;
    t.retries += stats.retries;
    t.deadLettered += stats.deadLettered;
    for (const [dependency, ms] of Object.entries(stats.dependencyMs)) {
      t.dependencyMs[dependency] = (t.dependencyMs[dependency] ?? 0) + ms;
    }
  }

  /** Events each stage has processed so far. */
  events(stage: StageName): number {
    return this.stages.get(stage)?.events ?? 0;
  }

  /** A copy of the totals. */
  snapshot(): Record<StageName, StageTime> {
    const out = {} as Record<StageName, StageTime>;
    for (const [stage, t] of this.stages) out[stage] = { ...t, dependencyMs: { ...t.dependencyMs } };
    return out;
  }
}
