/**
 * The bus topology: one stream per topic, one subject per partition (`tl.<topic>.<partition>`).
 *
 * A *topic* is what flows between stages (`ingested` → enrich → `enriched` → state → `applied` → writer); a *stage*
 * is a service that consumes one topic (enrich, state, writer).
 */
export const TOPICS = ['ingested', 'enriched', 'applied'] as const;
export type Topic = (typeof TOPICS)[number];

export const subjects = {
  /** The subject that carries partition `partition` of `topic`. */
  of(topic: Topic, partition: number): string {
    return `tl.${topic}.${partition}`;
  },
  /** The wildcard subject of a topic's stream. */
  wildcard(topic: Topic): string {
    return `tl.${topic}.*`;
  },
  /** The stream name of a topic. */
  stream(topic: Topic): string {
    return `TL_${topic.toUpperCase()}`;
  },
  deadLetterStream: 'TL_DEAD_LETTER',
  /** The subject a dead letter from `topic`/`partition` goes to. */
  deadLetter(topic: Topic, partition: number): string {
    return `tl.dead.${topic}.${partition}`;
  },
} as const;
