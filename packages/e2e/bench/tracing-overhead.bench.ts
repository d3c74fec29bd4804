/**
 * Throughput with tracing off and on (default sampling: every batch traced, OTLP/HTTP export to a local receiver
 * that counts and discards, so the figure is what tracing costs the services, not what a collector costs), measured
 * side by side in one run, alternating, so that the machine's noise hits both alike.
 *
 *   pnpm --filter @throughline/e2e bench:tracing            (TL_BENCH_EVENTS, TL_BENCH_ROUNDS to change the size)
 */
import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import { startOtlpReceiver } from '../test/otlp-receiver.js';
import { sendEvents, startStack, waitForLedger } from '../test/stack.js';

const EVENTS = Number(process.env.TL_BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.TL_BENCH_ROUNDS ?? 2);

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function run(
  tracing: boolean,
  seed: number,
): Promise<{ eventsPerSecond: number; spans: number; cpu: Record<string, number> }> {
  const receiver = tracing ? await startOtlpReceiver({ discard: true }) : undefined;
  const stack = await startStack({
    partitions: 8,
    stateInstances: 2,
    writerInstances: 2,
    env: { ...(receiver ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } : {}) },
  });
  try {
    const events = new LedgerWorkload({
      accounts: 2000,
      seed,
      idPrefix: `bench-${tracing ? 'on' : 'off'}`,
    }).take(EVENTS);
    const started = performance.now();
    await sendEvents(stack.ingest, events, { batchSize: 1000, concurrency: 8 });
    await waitForLedger(stack.pool, EVENTS, 600_000);
    const seconds = (performance.now() - started) / 1000;
    const cpu = Object.fromEntries([...stack.services].map(([name, s]) => [name, cpuSeconds(s.pid)]));
    await Promise.all([...stack.services.values()].map((s) => s.kill('SIGTERM')));
    const spans = receiver?.spanCount ?? 0;
    return { eventsPerSecond: EVENTS / seconds, spans, cpu };
  } finally {
    await stack.stop();
    await receiver?.close();
  }
}

it('tracing overhead', async () => {
  const results: { tracing: boolean; eventsPerSecond: number; spans: number; cpu: Record<string, number> }[] =
    [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const tracing of round % 2 === 0 ? [false, true] : [true, false]) {
      results.push({ tracing, ...(await run(tracing, round + 1)) });
    }
  }
  const mean = (on: boolean) => {
    const xs = results.filter((r) => r.tracing === on).map((r) => r.eventsPerSecond);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const off = mean(false);
  const on = mean(true);
  const lines = [
    '',
    `tracing overhead: ${EVENTS} events end to end (ingest over gRPC → commit), 8 partitions, 2 state + 2 writer instances`,
    ...results.map(
      (r, i) =>
        `  run ${i + 1}: tracing ${r.tracing ? 'on ' : 'off'}  ${Math.round(r.eventsPerSecond).toLocaleString('en-US')} events/s` +
        (r.tracing ? `  (${r.spans.toLocaleString('en-US')} spans exported)` : '') +
        `\n          CPU s: ${Object.entries(r.cpu)
          .map(([n, c]) => `${n} ${c.toFixed(2)}`)
          .join(', ')}`,
    ),
    `  mean: off ${Math.round(off).toLocaleString('en-US')} events/s, on ${Math.round(on).toLocaleString('en-US')} events/s: ` +
      `${(100 * (1 - on / off)).toFixed(1)}% lower with tracing on`,
    `  reproduce: pnpm --filter @throughline/e2e bench:tracing  (TL_BENCH_EVENTS=${EVENTS} TL_BENCH_ROUNDS=${ROUNDS})`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
});
