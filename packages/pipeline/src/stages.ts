/**
 * The stages of the pipeline in one table: which topic each consumes, which it produces, and how it decodes its
 * input. The services, the embedded pipeline and the tests wire their stages from this table, and nowhere else.
 *
 * ```
 * ingest ─▶ ingested ─▶ enrich ─▶ enriched ─▶ state ─▶ applied ─▶ writer ─▶ PostgreSQL
 * ```
 */
import type { EnrichedBatch, EventBatch, ResultBatch } from '@throughline/contracts';
import type { StageSpec } from '@throughline/runtime';
import { decodeEventBatch } from './enrich-stage.js';
import { decodeEnrichedBatch } from './state-stage.js';
import { decodeResultBatch, splitResultBatch } from './writer-stage.js';

export const STAGES = {
  enrich: { name: 'enrich', consumes: 'ingested', produces: 'enriched', decode: decodeEventBatch },
  state: { name: 'state', consumes: 'enriched', produces: 'applied', decode: decodeEnrichedBatch },
  writer: {
    name: 'writer',
    consumes: 'applied',
    produces: undefined,
    decode: decodeResultBatch,
    split: splitResultBatch,
  },
} as const satisfies {
  enrich: StageSpec<EventBatch>;
  state: StageSpec<EnrichedBatch>;
  writer: StageSpec<ResultBatch>;
};

export type StageName = keyof typeof STAGES;

/** The stages in pipeline order. */
export const STAGE_NAMES: readonly StageName[] = ['enrich', 'state', 'writer'];
