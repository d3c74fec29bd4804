import { describe, expect, it } from 'vitest';
import { startPrometheus, waitFor } from '../src/index.js';
import { isListening, processExists } from './helpers.js';

describe('startPrometheus', () => {
  it('scrapes what its configuration names, loads its rule files, answers queries, and cleans up on stop', async () => {
    // Its one target has nothing listening (port 9, discard): `up` 0 proves a scrape was attempted.
    const prometheus = await startPrometheus({
      config: [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files: [rules.yaml]',
        'scrape_configs:',
        '  - job_name: self',
        '    static_configs: [{ targets: ["127.0.0.1:9"] }]',
      ].join('\n'),
      files: {
        'rules.yaml': [
          'groups:',
          '  - name: kit',
          '    rules:',
          '      - record: kit:up',
          '        expr: sum(up)',
        ].join('\n'),
      },
    });
    const { port } = prometheus;
    const pid = prometheus.pid!;
    try {
      expect(prometheus.url).toBe(`http://127.0.0.1:${port}`);
      const groups = await prometheus.api<{ groups: { rules: { name: string; health: string }[] }[] }>(
        'rules',
      );
      expect(groups.groups.flatMap((g) => g.rules.map((r) => r.name))).toEqual(['kit:up']);
      await waitFor(
        async () => {
          const up = await prometheus.api<{ result: { value: [number, string] }[] }>('query', {
            query: 'up{job="self"}',
          });
          return up.result.length === 1 && up.result[0]!.value[1] === '0';
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await expect(prometheus.api('query', { query: 'sum(' })).rejects.toThrow(/bad_data/);
    } finally {
      await prometheus.stop();
    }
    expect(await isListening(port)).toBe(false);
    expect(processExists(pid)).toBe(false);
  });
});
