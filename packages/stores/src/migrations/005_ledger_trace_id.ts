/**
 * Migration 005: each ledger row keeps the id of the trace of the writer turn that inserted it (16 bytes; NULL
 * when that turn was not traced or not sampled). `throughline trace <event_id>` starts from it and follows the
 * span links back through state and enrich to the ingest request. The ingest message is named by the row's own
 * `position` (its stream sequence is `position >> 16`), so no batch id is stored per row. Adding a nullable
 * column without a default or a CHECK neither rewrites nor scans the table: the lock it takes is brief, however
 * large the ledger (the writer checks the id's form before storing it: `ledgerTraceId`).
 */
export const ledgerTraceId005 = /* sql */ `
ALTER TABLE ledger ADD COLUMN trace_id bytea;
`;
