/** The schema migrations, in the order they are applied. Append only: never edit one that has shipped. */
import { schema001 } from './001_schema.js';
import { deployment002 } from './002_deployment.js';
import { dropPartitionIndex003 } from './003_drop_partition_index.js';
import { partitionEpochs004 } from './004_partition_epochs.js';
import { ledgerTraceId005 } from './005_ledger_trace_id.js';
import { configChangedBy006 } from './006_config_changed_by.js';
import { partitionHighWater007 } from './007_partition_high_water.js';

export interface Migration {
  /** Strictly increasing, recorded in `tl_schema_migrations.version`. */
  readonly version: number;
  readonly name: string;
  /** One or more statements, run in one transaction. */
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'schema', sql: schema001 },
  { version: 2, name: 'deployment', sql: deployment002 },
  { version: 3, name: 'drop ledger partition index', sql: dropPartitionIndex003 },
  { version: 4, name: 'partition epochs', sql: partitionEpochs004 },
  { version: 5, name: 'ledger trace id', sql: ledgerTraceId005 },
  { version: 6, name: 'config changed by', sql: configChangedBy006 },
  { version: 7, name: 'partition high water', sql: partitionHighWater007 },
];

/** The schema version this build needs: the last of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = Math.max(0, ...MIGRATIONS.map((m) => m.version));
