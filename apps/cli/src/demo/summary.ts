/** The demo's closing summary. */
import pc from 'picocolors';
import type { DemoReport } from '@throughline/embedded';
import { formatExplanation } from '@throughline/telemetry';
import type { Violation } from '@throughline/stores';
import { count, millis, percent, seconds, table } from '../format.js';

export function renderViolations(violations: readonly Violation[], total: number): string {
  const lines = violations.map((v) => {
    const subject = [v.accountId && `account ${v.accountId}`, v.eventId && `event ${v.eventId}`]
      .filter(Boolean)
      .join(', ');
    return `  ${pc.red(v.invariant)}${subject ? ` (${subject})` : ''}: ${v.detail}`;
  });
  if (total > violations.length) lines.push(`  … and ${count(total - violations.length)} more`);
  return lines.join('\n');
}

export function renderSummary(r: DemoReport): string {
  const out: string[] = [];
  out.push(
    `${pc.bold(`${count(r.committedRows)} events`)} committed in ${seconds(r.processingMs)}: ` +
      `${pc.bold(pc.green(`${count(r.eventsPerSecond)} events/s`))}`,
    pc.dim(`  start-up ${seconds(r.startupMs)}, verify ${seconds(r.verifyMs)}, ${seconds(r.totalMs)} in all`),
    '',
    `${pc.bold('Ingest → commit latency')}  p50 ${millis(r.latencyMs.p50)}   p99 ${millis(r.latencyMs.p99)}   max ${millis(r.latencyMs.max)}`,
    '',
    pc.bold('Outcomes'),
  );
  const total = r.outcomes.applied + r.outcomes.rejected;
  const rows = [
    ['applied', count(r.outcomes.applied), percent(r.outcomes.applied, total)],
    ['rejected', count(r.outcomes.rejected), percent(r.outcomes.rejected, total)],
    ...Object.entries(r.outcomes.rejectedByReason)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => [`  ${reason}`, count(n), percent(n, total)]),
  ];
  if (r.duplicatesSkipped > 0) rows.push(['skipped as already applied', count(r.duplicatesSkipped), '']);
  out.push(table(rows), '');

  out.push(
    pc.bold('Where the time went') +
      pc.dim(" (from the demo's own spans, as `throughline explain` reads them from Jaeger or OTLP)"),
  );
  out.push(formatExplanation(r.explanation));
  out.push(
    pc.dim('  (embedded mode: postgres is PGlite, redis the in-memory state store, nats the in-memory bus)'),
  );
  out.push(
    pc.dim(
      `  threads busy while processing: main (all actors) ${percent(r.utilization.mainThread, 1)}, ` +
        `database (PGlite) ${percent(r.utilization.databaseThread, 1)}`,
    ),
    pc.dim(
      "  (in one process a wait also covers other actors running on the shared main thread; the writer's wait on PGlite\n" +
        "   includes queueing behind the other partitions' commits: the database thread is the bottleneck when it is ~100% busy)",
    ),
    '',
  );

  if (r.verify.ok) {
    out.push(
      `${pc.bold('Verify')} ${pc.green('OK')}: ${count(r.verify.checkedEvents)} ledger rows, ${count(r.verify.checkedAccounts)} accounts, every invariant holds`,
    );
  } else {
    out.push(`${pc.bold('Verify')} ${pc.red(`FAILED: ${count(r.verify.totalViolations)} violations`)}`);
    out.push(renderViolations(r.verify.violations.slice(0, 20), r.verify.totalViolations));
  }
  out.push(pc.dim(`Data in ${r.dataDir} (check it again with: throughline verify --data-dir ${r.dataDir})`));
  return out.join('\n');
}
