import type { EventPath, Hop } from './event-path.js';

const ms = (v: number): string =>
  v >= 10_000
    ? `${(v / 1000).toFixed(1)} s`
    : v >= 1000
      ? `${(v / 1000).toFixed(2)} s`
      : `${v.toFixed(1)} ms`;

function where(hop: Hop): string {
  return Object.entries(hop.timeMs)
    .filter(([k, v]) => v > 0 || k === 'compute')
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${ms(v)}`)
    .join(', ');
}

function spanName(hop: Hop): string {
  if (hop.stage !== 'ingest') return hop.span.name;
  const request = hop.requestSpan?.name.split('/').pop() ?? 'request';
  return `${request} → ${hop.span.name}`;
}

/** The one sentence naming the slowest hop and what its own time went on. */
export function slowestSentence(path: EventPath): string {
  const s = path.slowest;
  if (s === undefined) return 'No hop of this event was found in the spans.';
  const queued = s.queuedMs > 0 ? `, ${ms(s.queuedMs)} of it queued in front of it` : '';
  const what = s.dominant === 'compute' ? 'computing (its own code)' : `waiting on ${s.dominant}`;
  return `The slowest hop is ${s.stage}: ${ms(s.totalMs)}${queued}; its own time was mostly ${what} (${ms(s.dominantMs)}).`;
}

/**
 * The event's timeline as a table (one line per hop: when it started after the request, how long the event
 * queued in front of it, its own time and where that went), the hops not found, the sentence naming the
 * slowest hop, and each trace (a Jaeger link when `jaegerUi` is given).
 */
export function formatEventPath(path: EventPath, opts: { jaegerUi?: string } = {}): string {
  const { row } = path;
  const seq = row.position >> 16n;
  const lines = [
    `event ${row.eventId} · partition ${row.partition} · position ${row.position} (ingested message seq ${seq}, event ${row.position & 0xffffn})`,
    '',
  ];
  if (path.hops.length > 0) {
    const origin = path.hops[0]!.startMs;
    const header = ['hop', 'span', 'at', 'queued', 'own time', 'where its own time went'];
    const rows = path.hops.map((hop) => [
      hop.stage,
      spanName(hop),
      `+${ms(hop.startMs - origin)}`,
      hop.stage === 'ingest' ? '-' : ms(hop.queuedMs),
      ms(hop.endMs - hop.startMs),
      where(hop) +
        (hop.batchId ? ` · batch ${hop.batchId}` : '') +
        (hop.otherAttempts > 0 ? ` · ${hop.otherAttempts} other attempt(s)` : '') +
        (hop.stage !== 'ingest' && hop.events > 1 ? ` · turn of ${hop.events} events` : ''),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (i === 5 ? c : i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    lines.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '');
  }
  for (const m of path.missing) lines.push(`${m.stage}: not found — ${m.why}`);
  if (path.missing.length > 0) lines.push('');
  lines.push(slowestSentence(path), '', 'traces:');
  const link = (traceId: string) => (opts.jaegerUi ? `  ${new URL(`/trace/${traceId}`, opts.jaegerUi)}` : '');
  for (const hop of path.hops) {
    if (hop.requestSpan) {
      const others = hop.otherRequests ? ` (+${hop.otherRequests} other request(s) in the same batch)` : '';
      lines.push(`  request  ${hop.requestSpan.traceId}${link(hop.requestSpan.traceId)}${others}`);
    } else if (hop.stage === 'ingest') lines.push(`  ingest   ${hop.span.traceId}${link(hop.span.traceId)}`);
    if (hop.stage !== 'ingest')
      lines.push(`  ${hop.stage.padEnd(7)}  ${hop.span.traceId}${link(hop.span.traceId)}`);
  }
  if (path.hops.length === 0) lines.push(`  writer   ${row.traceId}${link(row.traceId)}`);
  return lines.join('\n');
}
