import { describe, expect, it } from 'vitest';
import { classifyFailure, RuntimeError } from '../src/index.js';

/** The shape of a `pg` DatabaseError: a SQLSTATE in `code`, a `severity`. */
const pgError = (code: string, message = 'pg error'): Error =>
  Object.assign(new Error(message), { code, severity: 'ERROR' });
/** The shape of an ioredis ReplyError. */
const redisReply = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });
const wrapped = (cause: unknown, fields: Record<string, unknown> = {}): Error =>
  Object.assign(new Error('wrapper', { cause }), fields);

describe('classifyFailure', () => {
  it('recognises PostgreSQL errors by SQLSTATE: data and integrity classes are poison, the rest a dependency', () => {
    expect(classifyFailure(wrapped(pgError('25006'), { dependency: 'postgres' }))).toEqual({
      kind: 'dependency',
      dependency: 'postgres',
      reason: 'read_only',
    });
    expect(classifyFailure(pgError('28P01')).reason).toBe('authentication');
    expect(classifyFailure(pgError('53100')).reason).toBe('disk_full');
    expect(classifyFailure(pgError('57P01')).reason).toBe('admin_shutdown');
    expect(classifyFailure(pgError('42501')).kind).toBe('dependency');
    expect(classifyFailure(pgError('40001'))).toMatchObject({
      kind: 'dependency',
      reason: 'transaction_rollback',
    });
    expect(classifyFailure(pgError('22003'))).toEqual({
      kind: 'poison',
      dependency: 'postgres',
      reason: 'data_exception',
    });
    expect(classifyFailure(wrapped(pgError('23514')))).toMatchObject({
      kind: 'poison',
      reason: 'integrity_violation',
    });
    // A five-character code without a severity is not a SQLSTATE (nor is its message consulted).
    expect(classifyFailure(Object.assign(new Error('numeric field overflow'), { code: '22003' })).kind).toBe(
      'dependency',
    );
  });

  it('recognises Redis errors by their reply prefix, never poison', () => {
    expect(
      classifyFailure(wrapped(redisReply("OOM command not allowed when used memory > 'maxmemory'."))),
    ).toEqual({
      kind: 'dependency',
      dependency: 'redis',
      reason: 'OOM',
    });
    expect(classifyFailure(redisReply("READONLY You can't write against a read only replica.")).reason).toBe(
      'READONLY',
    );
    expect(classifyFailure(redisReply('NOAUTH Authentication required.')).reason).toBe('NOAUTH');
    expect(classifyFailure(redisReply('MISCONF Redis is configured to save RDB snapshots')).reason).toBe(
      'MISCONF',
    );
    // Not a reply: a message that merely starts with OOM proves nothing.
    expect(classifyFailure(new Error('OOM somewhere')).dependency).toBe('unknown');
  });

  it('names network failures, bus failures and time-outs, keeping the dependency our own errors name', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    expect(classifyFailure(wrapped(refused, { code: 'REDIS_FAILED', dependency: 'redis' }))).toEqual({
      kind: 'dependency',
      dependency: 'redis',
      reason: 'ECONNREFUSED',
    });
    expect(
      classifyFailure(Object.assign(new Error('publish failed'), { code: 'BUS_PUBLISH_FAILED' })),
    ).toEqual({
      kind: 'dependency',
      dependency: 'nats',
      reason: 'publish_failed',
    });
    expect(classifyFailure(new Error('request timed out'))).toMatchObject({
      kind: 'dependency',
      reason: 'timeout',
    });
    expect(classifyFailure(new TypeError('x is undefined'))).toEqual({
      kind: 'dependency',
      dependency: 'unknown',
      reason: 'unknown',
    });
    expect(classifyFailure('a string')).toEqual({
      kind: 'dependency',
      dependency: 'unknown',
      reason: 'unknown',
    });
  });

  it('treats only marked or decode errors as poison, and fenced errors as fenced', () => {
    expect(classifyFailure(new RuntimeError('DECODE', 'bad bytes'))).toMatchObject({
      kind: 'poison',
      reason: 'decode',
    });
    expect(
      classifyFailure(wrapped(Object.assign(new Error('bad'), { poison: true, code: 'INVALID_INPUT' }))),
    ).toMatchObject({
      kind: 'poison',
      reason: 'invalid_input',
    });
    expect(
      classifyFailure(wrapped(Object.assign(new Error('newer epoch'), { code: 'STORE_FENCED' }))).kind,
    ).toBe('fenced');
  });
});
