import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, unknown>;
}

describe('deploy/compose/compose.yaml', () => {
  const compose = parse(readFileSync(`${root}deploy/compose/compose.yaml`, 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const services = compose.services;

  it('runs NATS with JetStream, Redis without eviction, PostgreSQL and Jaeger with OTLP and its UI', () => {
    expect(services.nats?.command).toEqual(expect.arrayContaining(['-js']));
    expect(services.redis?.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction']));
    expect(services.postgres?.image).toMatch(/^postgres:/);
    expect(services.jaeger?.ports).toEqual(
      expect.arrayContaining(['127.0.0.1:16686:16686', '127.0.0.1:4317:4317', '127.0.0.1:4318:4318']),
    );
  });

  it('publishes every port on the loopback interface only (its servers have no or well-known passwords)', () => {
    const ports = Object.values(services).flatMap((s) => s.ports ?? []);
    expect(ports.length).toBeGreaterThan(10);
    expect(ports.filter((p) => !p.startsWith('127.0.0.1:'))).toEqual([]);
  });

  it.each(['config', 'ingest', 'enrich', 'state', 'writer'])(
    'points %s at the stack and at Jaeger',
    (name) => {
      const service = services[name]!;
      expect(service.command).toEqual([`apps/${name}/dist/main.js`]);
      expect(existsSync(`${root}apps/${name}/src/main.ts`)).toBe(true);
      expect(service.environment).toMatchObject({
        NATS_URL: 'nats://nats:4222',
        REDIS_URL: 'redis://redis:6379',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        CONFIG_ADDRESS: 'config:50052',
      });
      expect(service.environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(Object.keys(service.depends_on ?? {})).toEqual(
        expect.arrayContaining(['nats', 'redis', 'postgres']),
      );
      // Every service on NATS gets the same lease time to live; the stages need no instance index or count.
      if (name !== 'config') expect(service.environment?.LEASE_TTL_MS).toBe('5000');
      expect(service.environment).not.toHaveProperty('INSTANCE_INDEX');
      expect(service.environment).not.toHaveProperty('INSTANCE_COUNT');
    },
  );
});
