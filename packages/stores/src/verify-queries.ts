/**
 * The verifier's SQL: one query per invariant family, each returning at most `$cap` offending rows plus the total
 * number of offending rows (a window count, computed before LIMIT).
 */

export const COUNTS_SQL = `
SELECT (SELECT count(*) FROM ledger)::int8::text AS events, (SELECT count(*) FROM balances)::int8::text AS accounts`;

/** (a) Every expected event id has exactly one ledger row. $1 ids, $2 cap. */
export const EXACTLY_ONE_ROW_SQL = `
SELECT e.id AS event_id, count(l.event_id)::int AS row_count, count(*) OVER ()::int8::text AS total
FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS id) AS e
LEFT JOIN ledger l ON l.event_id = e.id
GROUP BY e.id
HAVING count(l.event_id) <> 1
ORDER BY e.id
LIMIT $2`;

/**
 * (b) balance = sum of the account's applied deltas; (c) stored position = its largest ledger position. A FULL JOIN
 * also finds accounts with rows but no balance, and balances without rows. $1 cap.
 */
export const BALANCES_SQL = `
WITH agg AS (
  SELECT account_id,
         COALESCE(sum(delta_minor) FILTER (WHERE outcome = 'APPLIED'), 0) AS applied_sum,
         max(position) AS max_position
  FROM ledger GROUP BY account_id
), cmp AS (
  SELECT COALESCE(b.account_id, a.account_id) AS account_id, b.balance_minor, b.position,
         a.applied_sum, a.max_position,
         b.balance_minor IS DISTINCT FROM a.applied_sum AS bad_balance,
         b.position IS DISTINCT FROM a.max_position AS bad_position
  FROM balances b FULL JOIN agg a ON a.account_id = b.account_id
)
SELECT account_id, balance_minor::text, position::text, applied_sum::text, max_position::text,
       bad_balance, bad_position,
       -- a missing balance row is one violation; otherwise each mismatch is one
       sum(CASE WHEN balance_minor IS NULL THEN 1 ELSE bad_balance::int + bad_position::int END) OVER ()::int8::text
         AS total
FROM cmp WHERE bad_balance OR bad_position
ORDER BY account_id
LIMIT $1`;

/**
 * (d) Per account in position order, each balance_after = previous balance_after + delta (from zero). A break whose
 * size equals this row's or the previous row's delta is an effect applied twice; any other break is an effect
 * applied out of order or lost. Equal positions on one account, and rejected rows that move money, are reported
 * too. $1 cap.
 */
export const RUNNING_BALANCE_SQL = `
WITH steps AS (
  SELECT event_id, account_id, position, outcome, delta_minor, balance_after_minor,
         lag(position) OVER w AS prev_position,
         lag(delta_minor) OVER w AS prev_delta,
         balance_after_minor - COALESCE(lag(balance_after_minor) OVER w, 0) - delta_minor AS step_error
  FROM ledger
  WINDOW w AS (PARTITION BY account_id ORDER BY position, event_id)
), judged AS (
  SELECT *, CASE
      WHEN position = prev_position THEN 'position-order'
      WHEN outcome = 'REJECTED' AND delta_minor <> 0 THEN 'running-balance'
      WHEN step_error <> 0 AND (step_error = delta_minor OR step_error = prev_delta) THEN 'double-apply'
      WHEN step_error <> 0 THEN 'running-balance'
    END AS invariant
  FROM steps
)
SELECT invariant, event_id, account_id, position::text, outcome, delta_minor::text,
       balance_after_minor::text, step_error::text, count(*) OVER ()::int8::text AS total
FROM judged WHERE invariant IS NOT NULL
ORDER BY account_id, position, event_id
LIMIT $1`;

/**
 * (e) No debit took a balance below the overdraft limit of the configuration version it was applied with. Credits
 * are exempt: the domain never rejects them, and one may land while a lowered limit is still exceeded. Rows whose
 * version is not in the history are skipped. $1 cap.
 */
export const OVERDRAFT_SQL = `
SELECT l.event_id, l.account_id, l.balance_after_minor::text, h.overdraft_limit_minor::text,
       l.config_version::text, count(*) OVER ()::int8::text AS total
FROM ledger l
JOIN tenant_config_history h ON h.tenant_id = l.tenant_id AND h.version = l.config_version
WHERE l.outcome = 'APPLIED' AND l.delta_minor < 0 AND l.balance_after_minor < -h.overdraft_limit_minor
ORDER BY l.account_id, l.position, l.event_id
LIMIT $1`;
