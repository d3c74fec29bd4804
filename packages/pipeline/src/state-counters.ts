/** What the state stage decided, counted for metrics and tests. */
export interface StateCounters {
  applied: number;
  rejected: number;
  /** Events skipped because they were applied before (redelivery or client retry). */
  duplicates: number;
  /** Batches dropped unapplied because an enrich instance of a newer epoch had already published to the partition. */
  staleBatches: number;
  memoryHits: number;
  storeHits: number;
  rebuiltFromDatabase: number;
  /** Accounts looked up and found nowhere (memory, store, PostgreSQL): their first event. */
  newAccounts: number;
  /** Partitions rebuilt from PostgreSQL after the store lost their state (all of it, or recent writes). */
  recoveries: number;
  /** Of those, partitions whose store kept a marker but lost recent writes (rolled back). */
  rollbacks: number;
  /** Events dead-lettered alone because no turn could apply them (published by something other than enrich). */
  deadLettered: number;
}

export function newStateCounters(): StateCounters {
  return {
    applied: 0,
    rejected: 0,
    duplicates: 0,
    staleBatches: 0,
    memoryHits: 0,
    storeHits: 0,
    rebuiltFromDatabase: 0,
    newAccounts: 0,
    recoveries: 0,
    rollbacks: 0,
    deadLettered: 0,
  };
}
