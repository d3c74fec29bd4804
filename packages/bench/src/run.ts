#!/usr/bin/env node
/**
 * The benchmark runner: `node dist/run.js <ablation|sweep|floor|peer|all> [--size small|default] [--out dir]`.
 * Prints the tables and writes the JSON and HTML reports.
 */
import { parseArgs } from 'node:util';
import { runBench, SCENARIOS, writeReport, type Scenario } from './bench.js';
import { renderTables } from './report/table.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: 'default' },
    out: { type: 'string', default: 'bench-results' },
    verify: { type: 'boolean', default: false },
    baseline: { type: 'string' },
  },
});
const scenario = positionals[0] as Scenario | undefined;
if (
  scenario === undefined ||
  !SCENARIOS.includes(scenario) ||
  (values.size !== 'small' && values.size !== 'default')
) {
  process.stderr.write(
    `usage: bench <${SCENARIOS.join('|')}> [--size small|default] [--out dir] [--verify] [--baseline <checkout>]\n`,
  );
  process.exit(2);
}
const report = await runBench({
  scenario,
  size: values.size,
  verify: values.verify,
  ...(values.baseline === undefined ? {} : { baselineRoot: values.baseline }),
  command: `pnpm --filter @throughline/bench bench ${scenario} --size ${values.size}${values.baseline ? ` --baseline ${values.baseline}` : ''}`,
  progress: (line) => process.stderr.write(`  ${line}\n`),
});
process.stdout.write(renderTables(report));
const paths = writeReport(report, values.out, `bench-${scenario}`);
process.stdout.write(`\nreports: ${paths.json}, ${paths.html}\n`);
// Client libraries (BullMQ, gRPC) may keep handles open; the run is over.
process.exit(0);
