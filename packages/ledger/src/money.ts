/** Integer money arithmetic: every amount is bigint minor units; rounding is half away from zero. */

const RATE_SCALE = 1_000_000_000n;
const BPS_SCALE = 10_000n;

/** `numerator / denominator` rounded half away from zero (denominator > 0). */
export function divRound(numerator: bigint, denominator: bigint): bigint {
  const half = denominator / 2n;
  return numerator >= 0n ? (numerator + half) / denominator : -((-numerator + half) / denominator);
}

/** Converts `amountMinor` with a rate scaled by 1e9 (`rateE9 = 1_000_000_000n` is parity). */
export function convert(amountMinor: bigint, rateE9: bigint): bigint {
  return divRound(amountMinor * rateE9, RATE_SCALE);
}

/** The fee of `amountMinor` at `feeBps` basis points. */
export function feeOf(amountMinor: bigint, feeBps: number): bigint {
  return divRound(amountMinor * BigInt(feeBps), BPS_SCALE);
}

export const PARITY_RATE_E9 = RATE_SCALE;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Whether `value` fits a signed 64-bit integer: the wire's int64 and the ledger's `bigint` columns. */
export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}
