/**
 * What a failed turn says about its messages — by what the error is, never by hope:
 *
 * - `poison`: the messages' own content can never be processed (it cannot be decoded, or a deterministic check on
 *   it failed: a PostgreSQL data exception or integrity violation, an error marked `poison`). Only poison is
 *   dead-lettered.
 * - `fenced`: a newer lease epoch owns the partition; this instance stops processing it.
 * - `dependency`: Redis, PostgreSQL, NATS or the config service refused or failed (out of memory, read only,
 *   authentication, disk full, a lost connection, a time-out) — or an error nobody recognised. Waited out:
 *   retried without limit, the partition paused in order.
 *
 * PostgreSQL errors are recognised by their SQLSTATE class, Redis errors by their reply prefix (`OOM`,
 * `READONLY`, …), network errors by Node.js's error code; never by the text of a message.
 */
import { isFencedError, isRuntimeError, RuntimeErrorCode } from './errors.js';

export type FailureKind = 'poison' | 'fenced' | 'dependency';

export interface FailureClass {
  kind: FailureKind;
  /** `redis`, `postgres`, `nats`, `config`, or `unknown`. */
  dependency: string;
  /** Short and stable, for metrics and logs: `OOM`, `read_only`, `connection`, `ECONNREFUSED`, `timeout`, … */
  reason: string;
}

/** SQLSTATE classes (the first two characters) and what they mean here. */
const SQLSTATE_CLASSES: Record<string, string> = {
  '08': 'connection',
  '22': 'data_exception',
  '23': 'integrity_violation',
  '25': 'transaction_state',
  '28': 'authentication',
  '3D': 'no_database',
  '40': 'transaction_rollback',
  '42': 'syntax_or_access',
  '53': 'resources',
  '54': 'program_limit',
  '55': 'object_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  XX: 'internal_error',
};
/** Codes worth naming on their own. */
const SQLSTATE_CODES: Record<string, string> = {
  '25006': 'read_only',
  '42501': 'insufficient_privilege',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '57P01': 'admin_shutdown',
  '57P03': 'cannot_connect_now',
};
/** Classes that are about the statement's data itself: the same input fails the same way every time. */
const POISON_CLASSES: ReadonlySet<string> = new Set(['22', '23']);

const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The first word of a Redis error reply: an upper-case token (`OOM`, `READONLY`, `NOAUTH`, `WRONGPASS`, `ERR`). */
function redisReplyPrefix(err: { name?: unknown; message?: unknown }): string | undefined {
  if (err.name !== 'ReplyError' || typeof err.message !== 'string') return undefined;
  const word = /^([A-Z][A-Z_-]+)\b/.exec(err.message)?.[1];
  return word;
}

/** A PostgreSQL error's SQLSTATE: five characters of digits and capitals, on an error that has a severity. */
function sqlState(err: { code?: unknown; severity?: unknown; sqlState?: unknown }): string | undefined {
  const code = typeof err.sqlState === 'string' ? err.sqlState : err.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  if (err.severity === undefined && err.sqlState === undefined) return undefined;
  return code;
}

/** nats.js error codes worth naming (connection state and request time-outs). */
const NATS_CODES: ReadonlySet<string> = new Set([
  'TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_DRAINING',
  'CONNECTION_REFUSED',
  'DISCONNECT',
  '503',
]);

/**
 * Classifies a failed turn's error by walking it and its causes. The dependency is the first one an error names
 * (`dependency` on our own errors), the reason the most specific one found (a SQLSTATE, a Redis reply, a network
 * code) before a generic one (an error's own code).
 */
export function classifyFailure(err: unknown): FailureClass {
  if (isFencedError(err)) return { kind: 'fenced', dependency: 'unknown', reason: 'fenced' };
  let dependency: string | undefined;
  let specific: string | undefined;
  let generic: string | undefined;
  for (
    let current: unknown = err, depth = 0;
    typeof current === 'object' && current !== null && depth < 8;
    depth++
  ) {
    const e = current as {
      message?: unknown;
      code?: unknown;
      poison?: unknown;
      dependency?: unknown;
      cause?: unknown;
    };
    if (typeof e.dependency === 'string' && dependency === undefined) dependency = e.dependency;
    if (e.poison === true)
      return { kind: 'poison', dependency: dependency ?? 'unknown', reason: poisonReason(e.code) };
    if (
      isRuntimeError(current) &&
      (current.code === RuntimeErrorCode.decode || current.code === RuntimeErrorCode.poison)
    )
      return { kind: 'poison', dependency: dependency ?? 'unknown', reason: current.code.toLowerCase() };
    const state = sqlState(e);
    if (state !== undefined) {
      const cls = state.slice(0, 2);
      const name = SQLSTATE_CODES[state] ?? SQLSTATE_CLASSES[cls] ?? `sqlstate_${cls}`;
      return {
        kind: POISON_CLASSES.has(cls) ? 'poison' : 'dependency',
        dependency: 'postgres',
        reason: name,
      };
    }
    const reply = redisReplyPrefix(e);
    if (reply !== undefined) return { kind: 'dependency', dependency: 'redis', reason: reply };
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;
    if (code !== undefined) {
      if (NETWORK_CODES.has(code)) specific ??= code;
      else if (code.startsWith('BUS_')) {
        dependency ??= 'nats';
        specific ??= code.slice(4).toLowerCase();
      } else if (NATS_CODES.has(code)) {
        dependency ??= 'nats';
        specific ??= code.toLowerCase();
      } else generic ??= code.toLowerCase();
    }
    if (typeof e.message === 'string' && /\btime(d)? ?out\b/i.test(e.message)) specific ??= 'timeout';
    current = e.cause;
  }
  return {
    kind: 'dependency',
    dependency: dependency ?? 'unknown',
    reason: specific ?? generic ?? 'unknown',
  };
}

function poisonReason(code: unknown): string {
  return typeof code === 'string' ? code.toLowerCase() : 'poison';
}
