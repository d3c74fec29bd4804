/** Tenant configurations as text, and FX rates between their decimal and their stored (×1e9) forms. */
import { InvalidArgumentError } from 'commander';
import type { TenantConfig } from '@throughline/contracts';
import { table } from '../format.js';

const E9 = 1_000_000_000n;

/** `0.92` → 920000000n (rates are stored scaled by 1e9). */
export function rateE9(decimal: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,9}))?$/.exec(decimal);
  if (!match) throw new InvalidArgumentError('expected a rate such as 0.92 (at most 9 decimals).');
  const rate = BigInt(match[1]!) * E9 + BigInt((match[2] ?? '').padEnd(9, '0'));
  if (rate <= 0n) throw new InvalidArgumentError('a rate must be above 0.');
  return rate;
}

export function rateText(e9: bigint): string {
  const whole = e9 / E9;
  const fraction = (e9 % E9).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}

/** `--fx USD=0.92` (repeatable) → [['USD', 920000000n], …]. */
export function fxPair(value: string, previous: [string, bigint][] = []): [string, bigint][] {
  const [currency, rate] = value.split('=');
  if (currency === undefined || rate === undefined || !/^[A-Z]{3}$/.test(currency)) {
    throw new InvalidArgumentError('expected CURRENCY=RATE such as USD=0.92.');
  }
  return [...previous, [currency, rateE9(rate)]];
}

export function describeConfig(c: TenantConfig): string {
  const rates = Object.entries(c.fxRatesE9)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, e9]) => `${currency} ${rateText(e9)}`)
    .join(', ');
  return [
    `${c.tenantId} (version ${c.version})`,
    table(
      [
        ['enabled', String(c.enabled)],
        ['base currency', c.baseCurrency],
        ['fee', `${c.feeBps} bps`],
        ['daily debit limit', c.dailyDebitLimitMinor > 0n ? `${c.dailyDebitLimitMinor} minor units` : 'none'],
        ['overdraft limit', `${c.overdraftLimitMinor} minor units`],
        ['fx rates to base', rates || 'none'],
        ['updated', new Date(Number(c.updatedAtMs)).toISOString()],
      ],
      '  ',
      'left',
    ),
  ].join('\n');
}

export function listConfigs(configs: readonly TenantConfig[]): string {
  if (configs.length === 0) return 'no tenants configured';
  return table(
    [
      ['tenant', 'version', 'enabled', 'base', 'fee bps', 'daily debit limit', 'overdraft limit', 'fx rates'],
      ...configs.map((c) => [
        c.tenantId,
        String(c.version),
        String(c.enabled),
        c.baseCurrency,
        String(c.feeBps),
        String(c.dailyDebitLimitMinor),
        String(c.overdraftLimitMinor),
        String(Object.keys(c.fxRatesE9).length),
      ]),
    ],
    '',
  );
}
