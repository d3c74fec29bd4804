/**
 * PostgreSQL array literals (text format) built by hand for the read-side and configuration statements; the writer's
 * commit sends binary arrays instead (pg-binary-arrays.ts).
 *
 * node-postgres would turn a JS array into a literal too, but it quotes and regex-escapes every element. Numbers need
 * no quoting at all, and text only needs escaping in the rare element that contains a quote or a backslash.
 */

const NEEDS_ESCAPE = /["\\]/;
const ESCAPE = /["\\]/g;

function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? `"${value.replace(ESCAPE, '\\$&')}"` : `"${value}"`;
}

/** `{"a","b"}` for a `text[]` parameter. Elements are always quoted: empty strings, commas, braces and NULL are safe. */
export function textArray(values: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += quote(values[i] as string);
  }
  return out + '}';
}

/** `{1,-2,3}` for an `int[]` / `bigint[]` parameter; bigints keep every digit. */
export function numberArray(values: readonly (number | bigint)[]): string {
  return `{${values.join(',')}}`;
}
