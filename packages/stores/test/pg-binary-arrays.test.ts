import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { Int4ArrayBuilder, Int8ArrayBuilder, TextArrayBuilder } from '../src/pg-binary-arrays.js';
import { usePostgres } from './support.js';

// What PostgreSQL reads back from each binary array: the element values as text, so nothing is lost in between.
const db = usePostgres();
let pool: pg.Pool;

beforeAll(async () => {
  pool = await db.newPool();
});

async function roundTrip(type: string, array: Buffer): Promise<(string | null)[]> {
  const { rows } = await pool.query<{ v: string | null }>({
    text: `SELECT v::text FROM unnest($1::${type}) WITH ORDINALITY AS t(v, i) ORDER BY i`,
    values: [array],
  });
  return rows.map((r) => r.v);
}

describe('binary arrays, read back by PostgreSQL', () => {
  it('int8: bigints and safe-integer numbers, negative, zero and the extremes', async () => {
    const values = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 1_234_567_890_123n];
    const numbers = [0, -1, 4_294_967_296, -4_294_967_297, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const b = new Int8ArrayBuilder(2);
    for (const v of values) b.push(v);
    for (const n of numbers) b.push(n);
    expect(await roundTrip('int8[]', b.finish())).toEqual([
      ...values.map(String),
      ...numbers.map((n) => BigInt(n).toString()),
    ]);
  });

  it('int4 within range', async () => {
    const b = new Int4ArrayBuilder();
    for (const v of [0, 7, -7, 2_147_483_647, -2_147_483_648]) b.push(v);
    expect(await roundTrip('int[]', b.finish())).toEqual(['0', '7', '-7', '2147483647', '-2147483648']);
  });

  it('text: empty, quotes, backslashes, commas and braces, multi-byte characters, NULL', async () => {
    const values = [
      '',
      'a"b',
      'c\\d',
      '{x,y}',
      'NULL',
      'Zürich €',
      '😀 emoji',
      undefined,
      'x'.repeat(10_000),
    ];
    const b = new TextArrayBuilder(1, 1);
    for (const v of values) b.push(v);
    expect(await roundTrip('text[]', b.finish())).toEqual(values.map((v) => v ?? null));
  });

  it('an empty array of each type', async () => {
    expect(await roundTrip('int8[]', new Int8ArrayBuilder().finish())).toEqual([]);
    expect(await roundTrip('int[]', new Int4ArrayBuilder().finish())).toEqual([]);
    expect(await roundTrip('text[]', new TextArrayBuilder().finish())).toEqual([]);
  });

  it('grows past its first buffer and keeps every element', async () => {
    const b = new Int8ArrayBuilder(1);
    for (let i = 0; i < 5_000; i++) b.push(BigInt(i) * 1_000_003n);
    expect(b.length).toBe(5_000);
    const back = await roundTrip('int8[]', b.finish());
    expect(back).toHaveLength(5_000);
    expect(back[4_999]).toBe(String(4_999n * 1_000_003n));
  });

  it('refuses a value its type cannot hold, naming it', () => {
    expect(() => new Int4ArrayBuilder().push(2_147_483_648)).toThrow('2147483648 is not a 32-bit integer');
    expect(() => new Int4ArrayBuilder().push(1.5)).toThrow(RangeError);
    expect(() => new Int8ArrayBuilder().push(2n ** 63n)).toThrow('is not a 64-bit integer');
    expect(() => new Int8ArrayBuilder().push(2 ** 60)).toThrow('is not a safe integer');
  });
});
