import { describe, expect, it } from 'vitest';
import { redactSecrets, redactValue } from '../src/index.js';

const SEED = 'SUAM2H5PXNAEGP4EWLU2ORYJMIEMGSVZQUF4GQ5NNGIRHLYZZZXHKLRT4E';

describe('redactSecrets', () => {
  it.each([
    ['postgres://writer:hunter2@db:5432/tl', 'postgres://writer:***@db:5432/tl'],
    ['redis://:s3cr%3At@redis:6379/0', 'redis://:***@redis:6379/0'],
    ['rediss://default:pa55@r.example:6380', 'rediss://default:***@r.example:6380'],
    [
      'nats://svc:topsecret@nats-0:4222,nats://svc:topsecret@nats-1:4222',
      'nats://svc:***@nats-0:4222,nats://svc:***@nats-1:4222',
    ],
    [
      'postgres://db/tl?sslmode=verify-full&password=hunter2',
      'postgres://db/tl?sslmode=verify-full&password=***',
    ],
    ['host=db user=writer password=hunter2 dbname=tl', 'host=db user=writer password=*** dbname=tl'],
    ["password='two words'", 'password=***'],
    ['NATS_TOKEN=abcdef123 LOG_LEVEL=info', 'NATS_TOKEN=*** LOG_LEVEL=info'],
    ['{"token":"abc"}', '{"token":"***"}'],
    ['Authorization: Bearer tl_live_8f9a.b+c/=', 'Authorization: Bearer ***'],
    [`seed ${SEED} end`, 'seed S*** end'],
    ['jwt eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkMifQ.sig-part_1', 'jwt ***'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('leaves text without credentials alone', () => {
    for (const text of [
      'postgres://writer@db:5432/tl',
      'nats://127.0.0.1:4222',
      'state: acquired partition 3 (epoch 1796135692223054)',
      'events[2].tenant_id: is required',
      'http://127.0.0.1:9464/metrics',
    ])
      expect(redactSecrets(text)).toBe(text);
  });

  it('redacts every string of a value, errors and their stacks included', () => {
    const err = new Error('connect ECONNREFUSED postgres://w:hunter2@db/tl');
    const out = JSON.stringify(redactValue({ url: 'redis://:pw@r:6379', nested: [{ err }], n: 3 }));
    expect(out).not.toMatch(/hunter2|:pw@/);
    expect(out).toContain('postgres://w:***@db/tl');
    expect(out).toContain('"n":3');
    expect(redactValue({ password: 'x', NATS_TOKEN: 'y', apiKey: 'z', partitions: [1], tokens: 3 })).toEqual({
      password: '***',
      NATS_TOKEN: '***',
      apiKey: '***',
      partitions: [1],
      tokens: 3,
    });
  });
});
