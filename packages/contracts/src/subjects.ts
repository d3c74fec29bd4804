/** The bus topology: one stream per stage, one subject per partition (`tl.<stage>.<partition>`). */
export const STAGES = ['ingested', 'enriched', 'applied'] as const;
export type Stage = (typeof STAGES)[number];

export const subjects = {
  /** The subject that carries partition `partition` of `stage`. */
  of(stage: Stage, partition: number): string {
    return `tl.${stage}.${partition}`;
  },
  /** The wildcard subject of a stage's stream. */
  wildcard(stage: Stage): string {
    return `tl.${stage}.*`;
  },
  /** The stream name of a stage. */
  stream(stage: Stage): string {
    return `TL_${stage.toUpperCase()}`;
  },
  deadLetterStream: 'TL_DEAD_LETTER',
  /** The subject a dead letter from `stage`/`partition` goes to. */
  deadLetter(stage: Stage, partition: number): string {
    return `tl.dead.${stage}.${partition}`;
  },
} as const;
