/**
 * What an instance costs to start: every scale event starts Node.js processes, and on the machine that runs the
 * pipeline their start takes CPU from it. A stack of one instance a stage runs idle; each stage is scaled to two
 * and back, several times, and each added instance's CPU time (its process tree, from /proc) and wall time are
 * read when it reports ready. Once with tracing off, once with an OTLP endpoint set (tracing on: the libraries are
 * instrumented, which costs more). With a baseline (another checkout, built), its instances are measured the same
 * way, right after this build's.
 */
import type { StageApp } from '@throughline/stack';
import { treeCpuSeconds } from '../cpu.js';
import { startPipeline, startServers } from '../stack.js';
import { median } from './side-by-side.js';

export interface StartupSample {
  /** `this` build or the `baseline` checkout. */
  build: 'this' | 'baseline';
  app: StageApp;
  tracing: boolean;
  /** CPU seconds of the new process, from spawn until it reported ready. */
  cpuSeconds: number;
  /** Wall time from the scale call until the new instance reported ready, ms. */
  readyMs: number;
}

export interface StartupReport {
  samples: StartupSample[];
  /** Median CPU seconds and ready time per stage and tracing setting. */
  medians: {
    build: 'this' | 'baseline';
    app: StageApp;
    tracing: boolean;
    cpuSeconds: number;
    readyMs: number;
  }[];
  baselineRoot?: string;
}

const STAGES: StageApp[] = ['enrich', 'state', 'writer'];

export async function runStartup(starts: number, baselineRoot?: string): Promise<StartupReport> {
  const samples: StartupSample[] = [];
  const builds = baselineRoot === undefined ? (['this'] as const) : (['this', 'baseline'] as const);
  for (const tracing of [false, true]) {
    for (const build of builds) await measure(build, tracing);
  }
  async function measure(build: 'this' | 'baseline', tracing: boolean): Promise<void> {
    const servers = await startServers();
    try {
      const stack = await startPipeline({
        servers,
        partitions: 8,
        // Tracing on: spans go to a port nothing listens on; only what tracing costs to start is measured.
        env: tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_LOG_LEVEL: 'none' } : {},
        instances: { enrich: 1, state: 1, writer: 1 },
        ...(build === 'baseline' ? { appsRoot: baselineRoot! } : {}),
      });
      try {
        for (let i = 0; i < starts; i++) {
          for (const app of STAGES) {
            const before = new Set(stack.services.keys());
            const t0 = performance.now();
            await stack.scale(app, 2);
            const readyMs = performance.now() - t0;
            const added = [...stack.services].find(([name]) => !before.has(name))?.[1];
            if (added?.pid === undefined) throw new Error(`scaling ${app} to 2 started no process`);
            samples.push({ build, app, tracing, cpuSeconds: treeCpuSeconds([added.pid]), readyMs });
            await stack.scale(app, 1);
          }
        }
      } finally {
        await stack.stop();
      }
    } finally {
      await servers.stop();
    }
  }
  const medians = builds.flatMap((build) =>
    [false, true].flatMap((tracing) =>
      STAGES.map((app) => {
        const of = samples.filter((s) => s.build === build && s.app === app && s.tracing === tracing);
        return {
          build,
          app,
          tracing,
          cpuSeconds: median(of.map((s) => s.cpuSeconds)),
          readyMs: median(of.map((s) => s.readyMs)),
        };
      }),
    ),
  );
  return { samples, medians, ...(baselineRoot === undefined ? {} : { baselineRoot }) };
}
