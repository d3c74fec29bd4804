/** The terminal form of a report: plain fixed-width tables. */
import type { PipelineRow } from '../pipeline-run.js';
import type { BenchReport } from './types.js';

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const n2 = (x: number) => x.toFixed(2);

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderTables(report: BenchReport): string {
  const out: string[] = [];
  if (report.ablation) {
    out.push('ablation (same events every row; fresh servers and services per row)');
    out.push(
      table(
        [
          'row',
          'events/s',
          'p50 ms',
          'p99 ms',
          'CPU s/1k ev',
          'calls/ev',
          'queue/dep/compute ms/ev',
          'committed',
        ],
        report.ablation.map((r) => [
          r.label,
          n0(r.eventsPerSecond),
          n0(r.p50Ms),
          n0(r.p99Ms),
          n2(r.cpuSecondsPer1k),
          n2(r.externalCallsPerEvent),
          `${n2(r.split.queueMs)}/${n2(r.split.dependencyMs)}/${n2(r.split.computeMs)}`,
          `${n0(r.committed)}/${n0(r.sent)}${r.timedOut ? ' (time box)' : ''}`,
        ]),
      ),
    );
    const naive = report.ablation[0];
    const full = report.ablation[report.ablation.length - 1];
    if (naive && full && naive.eventsPerSecond > 0)
      out.push(`full / naive: ${(full.eventsPerSecond / naive.eventsPerSecond).toFixed(1)}×`);
  }
  if (report.capacity) {
    const { max, halfLoad } = report.capacity;
    out.push('', 'full design capacity (a long run as fast as ingest accepts, then paced at half of it)');
    out.push(
      table(
        ['row', 'events/s', 'p50 ms', 'p99 ms', 'p99 incl. warm-up', 'CPU s/1k ev', 'committed'],
        [max, halfLoad].map((r) => [
          r.label,
          n0(r.eventsPerSecond),
          n0(r.p50Ms),
          r.warmupMs > 0 ? `${n0(r.p99Ms)} (after ${n0(r.warmupMs)} ms)` : n0(r.p99Ms),
          n0(r.p99WithWarmupMs),
          n2(r.cpuSecondsPer1k),
          `${n0(r.committed)}/${n0(r.sent)}${r.timedOut ? ' (time box)' : ''}`,
        ]),
      ),
    );
  }
  for (const curve of report.sweep ?? []) {
    out.push('', `sweep: ${curve.name}, setting = ${curve.settingName}; knee ${curve.knee ?? '-'}`);
    out.push(
      table(
        ['setting', 'events/s', 'p99 ms', 'CPU s/1k ev'],
        curve.points.map((p) => [
          `${p.setting}${p.setting === curve.knee ? ' (knee)' : ''}`,
          n0(p.row.eventsPerSecond),
          n0(p.row.p99Ms),
          n2(p.row.cpuSecondsPer1k),
        ]),
      ),
    );
  }
  if (report.floor) {
    const f = report.floor;
    out.push(
      '',
      `floor: ${f.label}: ${n0(f.eventsPerSecond)} events/s, ${n2(f.cpuSecondsPer1k)} CPU s/1k events (${n0(f.events)} events)`,
    );
    const full = report.capacity?.max ?? report.ablation?.[report.ablation.length - 1];
    if (full)
      out.push(
        `full design (${full.label}) = ${((100 * full.eventsPerSecond) / f.eventsPerSecond).toFixed(0)}% of the floor`,
      );
  }
  if (report.peer) {
    const p = report.peer;
    out.push(
      '',
      `peer: ${p.label}: ${n0(p.eventsPerSecond)} events/s, ${n2(p.cpuSecondsPer1k)} CPU s/1k events (${n0(p.committed)}/${n0(p.events)} committed${p.timedOut ? ', time box' : ''})`,
    );
  }
  if (report.footprint) {
    const f = report.footprint;
    out.push(
      '',
      `Redis footprint: ${n0(f.bytesPerAccount)} bytes per account (${f.per100kAccountsMiB.toFixed(1)} MiB per 100,000 accounts, ` +
        `${n0(f.accounts)} written), ${n0(f.bytesPerEventId)} bytes per claimed event id ` +
        `(${f.perMillionEventIdsMiB.toFixed(1)} MiB per million inside the horizon, ${n0(f.eventIds)} written)`,
    );
  }
  if (report.startup) {
    const st = report.startup;
    out.push(
      '',
      'startup (an instance added to a running stack: CPU seconds of its process until it reported ready; medians)',
      table(
        ['build', 'stage', 'tracing', 'CPU s', 'ready after ms', 'starts'],
        st.medians.map((m) => [
          m.build,
          m.app,
          m.tracing ? 'on' : 'off',
          m.cpuSeconds.toFixed(2),
          n0(m.readyMs),
          String(
            st.samples.filter((s) => s.build === m.build && s.app === m.app && s.tracing === m.tracing)
              .length,
          ),
        ]),
      ),
      ...(st.baselineRoot === undefined ? [] : [`baseline: ${st.baselineRoot}`]),
    );
  }
  if (report.scaling) {
    const sc = report.scaling;
    out.push(
      '',
      'scaling (same events; steady and scaling runs alternate, the scaling ones scale every stage while they run)',
      pipelineTable([
        ...sc.rounds.flatMap((r) => [r.steady, r.scaling]),
        sc.paced.row,
        ...(sc.baseline?.rounds.flatMap((r) => [r.baseline, r.current]) ?? []),
      ]),
      `while scaling: ${(100 * sc.ratio).toFixed(1)}% of steady throughput (median of ${sc.rounds.length} alternating rounds); ` +
        `${sc.pauses.count} partitions moved cooperatively in all, pause p50 ${n0(sc.pauses.p50Ms)} ms, ` +
        `p99 ${n0(sc.pauses.p99Ms)} ms, max ${n0(sc.pauses.maxMs)} ms`,
      ...sc.rounds.map(({ scaling }, i) => `  round ${i + 1}: ${handoverText(scaling.handovers)}`),
      `paced at ${n0(sc.paced.row.offeredEventsPerSecond ?? 0)} events/s, while scaling: ${n0(sc.paced.row.eventsPerSecond)} events/s, ` +
        `p99 latency ${n0(sc.paced.row.p99Ms)} ms; ${handoverText(sc.paced.row.handovers)}`,
    );
    if (sc.baseline)
      out.push(
        `leases and fencing: this build at ${(100 * sc.baseline.ratio).toFixed(1)}% of the baseline's throughput (median of ${sc.baseline.rounds.length} alternating rounds; baseline ${sc.baseline.root})`,
      );
  }
  const sideBySide = (title: string, rows: PipelineRow[], summary: string) =>
    out.push('', title, pipelineTable(rows), summary);
  if (report.security) {
    const se = report.security;
    sideBySide(
      'security (same events; plaintext and open vs every hop secured: TLS to NATS, Redis, PostgreSQL and on gRPC, users, a client token)',
      se.rounds.flatMap((r) => [r.plaintext, r.secured]),
      `every hop secured: ${(100 * se.ratio).toFixed(1)}% of plaintext throughput (median of ${se.rounds.length} alternating rounds)`,
    );
  }
  if (report.replication) {
    const re = report.replication;
    sideBySide(
      'replication (same events; one NATS server with one copy of each stream vs a 3-node cluster on this machine with three)',
      re.rounds.flatMap((r) => [r.single, r.replicated]),
      `three copies: ${(100 * re.ratio).toFixed(1)}% of one copy's throughput (median of ${re.rounds.length} alternating rounds)`,
    );
  }
  if (report.soak) {
    const so = report.soak;
    out.push(
      '',
      `soak (${so.row.label}; 2 state, 2 writer, 1 enrich)`,
      table(
        ['fault', 'at s', 'rows then', 'lasted ms', 'going again after ms'],
        so.faults.map((f) => [
          f.target === undefined ? f.name : `${f.name} (${f.target})`,
          n0(f.atMs / 1000),
          n0(f.committedAt),
          n0(f.lastedMs),
          f.recoveredMs === null ? 'never' : n0(f.recoveredMs),
        ]),
      ),
      `${n0(so.row.committed)}/${n0(so.row.sent)} events committed, verified ${String(so.row.verified)}, ` +
        `${so.deadLetters} dead letters, ${n0(so.row.eventsPerSecond)} events/s overall, p99 ${n0(so.row.p99Ms)} ms: ` +
        (so.ok ? 'every event exactly once' : 'FAILED'),
    );
    if (so.held !== undefined) out.push(`still held when the run gave up: ${so.held}`);
  }
  return out.join('\n') + '\n';
}

/** Pipeline runs side by side: throughput, p99, what they committed and whether verify passed. */
function pipelineTable(rows: PipelineRow[]): string {
  return table(
    ['row', 'events/s', 'p99 ms', 'committed', 'verified'],
    rows.map((r) => [
      r.label,
      n0(r.eventsPerSecond),
      n0(r.p99Ms),
      `${n0(r.committed)}/${n0(r.sent)}`,
      String(r.verified),
    ]),
  );
}

/** The partitions a scaling run moved, their pauses, and where the slowest one's pause went. */
function handoverText(h: PipelineRow['handovers']): string {
  const slowest = h?.slowest;
  return (
    `${h?.cooperative ?? 0} partitions moved cooperatively, pause p50 ${n0(h?.pauseP50Ms ?? 0)} ms, ` +
    `p99 ${n0(h?.pauseP99Ms ?? 0)} ms, max ${n0(h?.pauseMaxMs ?? 0)} ms` +
    (slowest
      ? ` (${slowest.service} took partition ${slowest.partition} from ${slowest.previousOwner}` +
        (slowest.noticedAfterMs !== undefined && slowest.queuedMs !== undefined
          ? `; saw the release after ${n0(slowest.noticedAfterMs)} ms` +
            (slowest.storedAfterMs !== undefined && slowest.deliveredAfterMs !== undefined
              ? ` (stored after ${n0(slowest.storedAfterMs)} ms, delivered ${n0(slowest.deliveredAfterMs)} ms later` +
                (slowest.loopStoodStillMs !== undefined
                  ? `; its event loop stood still ${n0(slowest.loopStoodStillMs)} ms at the longest meanwhile`
                  : '') +
                (slowest.gcMs !== undefined
                  ? `, its garbage collector paused it ${n0(slowest.gcMs)} ms in all`
                  : '') +
                ')'
              : '') +
            `, went for the lease ${n0(slowest.queuedMs)} ms later`
          : '') +
        ')'
      : '')
  );
}
