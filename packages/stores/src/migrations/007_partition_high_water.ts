/**
 * Migration 007: the writer's row of `tl_partition_epochs` also keeps the partition's high-water position: the
 * highest position of any result it committed for the partition (`GREATEST`, in the same statement as the commit).
 * A state instance that starts owning a partition compares it with the high-water its store kept: a store below
 * what PostgreSQL committed has lost writes (rolled back), and is rebuilt instead of trusted. Rows written before
 * this migration start at 0, which no store is below.
 */
export const partitionHighWater007 = /* sql */ `
ALTER TABLE tl_partition_epochs ADD COLUMN high_water bigint NOT NULL DEFAULT 0 CHECK (high_water >= 0);
`;
