/** Reads the services' Prometheus /metrics: external calls, events processed, and the time split per stage. */

export interface StageMetrics {
  events: number;
  externalCalls: number;
  queueMs: number;
  dependencyMs: number;
  computeMs: number;
}

export function emptyStageMetrics(): StageMetrics {
  return { events: 0, externalCalls: 0, queueMs: 0, dependencyMs: 0, computeMs: 0 };
}

/** Sums every sample of each metric name in a Prometheus text exposition. */
export function parsePrometheus(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + value);
  }
  return sums;
}

/** The time histograms are recorded in seconds (unit `s`), whatever suffix the exporter adds to their names. */
function msOf(sums: Map<string, number>, prefix: string): number {
  for (const [name, value] of sums) if (name.startsWith(prefix) && name.endsWith('_sum')) return value * 1000;
  return 0;
}

export function stageMetricsOf(text: string): StageMetrics {
  const sums = parsePrometheus(text);
  return {
    events: sums.get('tl_events_processed_total') ?? 0,
    externalCalls: sums.get('tl_external_calls_total') ?? 0,
    queueMs: msOf(sums, 'tl_time_queue_wait'),
    dependencyMs: msOf(sums, 'tl_time_dependency_wait'),
    computeMs: msOf(sums, 'tl_time_compute'),
  };
}

export async function scrapeStage(httpPort: number): Promise<StageMetrics> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
    return stageMetricsOf(await res.text());
  } catch {
    return emptyStageMetrics();
  }
}
