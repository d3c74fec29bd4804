import { SpanKind, type Tracer } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus } from '@throughline/bus';
import { LedgerWorkload } from '@throughline/ledger';
import {
  ConfigCache,
  ConfigSnapshot,
  hostPipeline,
  IngestPublisher,
  STAGES,
  type ResultSink,
  stageProcessors,
} from '@throughline/pipeline';
import type { StageHost } from '@throughline/runtime';
import {
  createPostgresSink,
  createPostgresStateSource,
  createRedisStateStore,
  createTenantConfigRepository,
  migrate,
} from '@throughline/stores';
import { createPublishObserver, instrumentStage } from '@throughline/telemetry';
import { startTelemetry, type Telemetry } from '@throughline/telemetry-sdk';
import {
  startPostgres,
  startRedis,
  waitFor,
  type PostgresHandle,
  type RedisHandle,
} from '@throughline/testkit';

const msOf = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;

/** Every commit waits this much more: a known share of the writer's time, to check its time split against. */
const SLOW_COMMIT_MS = 80;

function slowSink(sink: ResultSink): ResultSink {
  return {
    claim: (partition, epoch) => sink.claim(partition, epoch),
    commitBatch: async (fence, results) => {
      await new Promise((r) => setTimeout(r, SLOW_COMMIT_MS));
      return sink.commitBatch(fence, results);
    },
  };
}

/**
 * The stages wired in one process (memory bus, real Redis and PostgreSQL) with an in-memory span exporter: one
 * batch followed from the ingest request to the writer's commit through span links.
 */
describe('tracing one batch from ingest to commit', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let redisServer: RedisHandle;
  let postgres: PostgresHandle;
  let pool: pg.Pool;
  let redis: Redis;
  let bus: Bus;
  let hosts: StageHost[] = [];

  beforeAll(async () => {
    [redisServer, postgres] = await Promise.all([startRedis(), startPostgres()]);
    pool = new pg.Pool({ connectionString: await postgres.createDatabase('tracing') });
    pool.on('error', () => undefined);
    redis = new Redis(redisServer.url);
    await migrate(pool);
    const repo = createTenantConfigRepository(pool);
    await repo.seedDemoTenants();
    telemetry = startTelemetry({
      serviceName: 'tracing-test',
      instanceId: 't-0',
      env: {},
      traceExporter: exporter,
      instrumentLibraries: false,
    });
    bus = createMemoryBus();
    await bus.ensureTopology();
    const cache = new ConfigCache(new ConfigSnapshot((await repo.list()).configs));
    const { tracer, meter } = telemetry;
    const running = await hostPipeline({
      bus,
      partitionCount: 1,
      processors: stageProcessors({
        bus,
        partitionCount: 1,
        snapshot: () => cache.current,
        stateStore: createRedisStateStore(redis),
        committed: createPostgresStateSource(pool),
        sink: slowSink(createPostgresSink(pool)),
      }),
      actor: (name) => ({
        pollWaitMs: 20,
        observer: instrumentStage({
          tracer,
          meter,
          bus,
          stage: name,
          topic: STAGES[name].consumes,
          partitions: () => [0],
        }).observer,
      }),
    });
    hosts = Object.values(running);
  });

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.stop()));
    await bus?.close();
    redis?.disconnect();
    await pool?.end();
    await telemetry?.shutdown();
    await Promise.allSettled([redisServer?.stop(), postgres?.stop()]);
  });

  it('links every hop, records the time split and lets the writer reach the ingest request', async () => {
    const tracer: Tracer = telemetry.tracer;
    const publisher = new IngestPublisher({
      bus,
      partitionCount: 1,
      lingerMs: 1,
      observer: createPublishObserver(tracer),
    });
    const events = new LedgerWorkload({ accounts: 50, seed: 21, idPrefix: 'traced' }).take(300);
    const requestTraceId = await tracer.startActiveSpan(
      'throughline.v1.IngestService/PublishBatch',
      { kind: SpanKind.SERVER },
      async (span) => {
        await publisher.publish(events);
        span.end();
        return span.spanContext().traceId;
      },
    );
    await waitFor(
      async () => (await pool.query('SELECT count(*)::int AS n FROM ledger')).rows[0].n === events.length,
      { timeoutMs: 30_000 },
    );
    // A turn's children end before it does, so once its span is exported so are they.
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'process tl.applied.0'), {
      timeoutMs: 10_000,
    });
    const spans = exporter.getFinishedSpans();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const one = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name);
      expect(found.length, `spans named ${name}`).toBeGreaterThanOrEqual(1);
      return found[0]!;
    };

    const request = one('throughline.v1.IngestService/PublishBatch');
    const publish = one('publish tl.ingested.0');
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': 'tl.ingested.0',
      'tl.events': 300,
    });

    const hops: [string, string, string[]][] = [
      ['process tl.ingested.0', 'enrich', ['wait config', 'wait nats']],
      ['process tl.enriched.0', 'state', ['wait redis', 'wait nats']],
      ['process tl.applied.0', 'writer', ['wait postgres', 'wait nats']],
    ];
    let previous = publish;
    for (const [name, stage, children] of hops) {
      const span = one(name);
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.links.map((l) => l.context.spanId)).toContain(previous.spanContext().spanId);
      expect(span.attributes).toMatchObject({
        'messaging.system': 'nats',
        'messaging.destination.name': name.slice('process '.length),
        'messaging.destination.partition.id': '0',
        'messaging.operation.type': 'process',
        'tl.stage': stage,
        'tl.partition': 0,
      });
      expect(span.attributes['messaging.batch.message_count']).toBeGreaterThanOrEqual(1);
      expect(span.attributes['tl.events']).toBeGreaterThan(0);
      const childSpans = spans.filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId);
      for (const child of children) expect(childSpans.map((s) => s.name)).toContain(child);
      // The split is measured by the turn's clock around each wait; the SDK times the `wait` span inside it. So
      // each dependency's share holds at least its spans' time (more by the event-loop hops around each span:
      // here every stage shares one process, and that reached ~10 ms a turn).
      for (const child of children) {
        const dependency = child.slice('wait '.length);
        const waited = childSpans.filter((s) => s.name === child).reduce((t, s) => t + msOf(s.duration), 0);
        const booked = Number(span.attributes[`tl.time.dependency_ms.${dependency}`]);
        expect(
          booked,
          `${stage} ${dependency}: booked ${booked} ms, spans ${waited} ms`,
        ).toBeGreaterThanOrEqual(waited - 0.1);
        expect(booked).toBeLessThanOrEqual(msOf(span.duration) + 0.1);
      }
      // The queue wait ends at the turn's start and began when its oldest message was stored: while one of the
      // producer spans it links to was running.
      const storedAt = msOf(span.startTime) - Number(span.attributes['tl.time.queue_wait_ms']);
      const producers = span.links.map((l) => byId.get(l.context.spanId)).filter((p) => p !== undefined);
      expect(producers.length).toBeGreaterThan(0);
      expect(storedAt).toBeGreaterThanOrEqual(Math.min(...producers.map((p) => msOf(p.startTime))) - 2);
      expect(storedAt).toBeLessThanOrEqual(Math.max(...producers.map((p) => msOf(p.endTime))) + 2);
      previous = span;
    }

    // The commits were slowed by a known amount: the writer's split books it on postgres, not on its compute.
    for (const writer of spans.filter(
      (s) => s.name === 'process tl.applied.0' && Number(s.attributes['tl.events']) > 0,
    )) {
      expect(Number(writer.attributes['tl.time.dependency_ms.postgres'])).toBeGreaterThanOrEqual(
        SLOW_COMMIT_MS - 1,
      );
      expect(Number(writer.attributes['tl.time.compute_ms'])).toBeLessThan(
        msOf(writer.duration) - SLOW_COMMIT_MS + 1,
      );
    }

    // From the writer's commit span, following links (and parents) reaches the ingest request's trace.
    const reachable = new Set<string>();
    const queue: ReadableSpan[] = [one('process tl.applied.0')];
    while (queue.length > 0) {
      const s = queue.pop()!;
      reachable.add(s.spanContext().traceId);
      for (const l of s.links) {
        const linked = byId.get(l.context.spanId);
        if (linked) queue.push(linked);
        else reachable.add(l.context.traceId);
      }
      const parent = s.parentSpanContext && byId.get(s.parentSpanContext.spanId);
      if (parent) queue.push(parent);
    }
    expect(reachable).toContain(requestTraceId);
  });
});
