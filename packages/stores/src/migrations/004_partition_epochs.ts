/**
 * Migration 004: the fences of the writer. `tl_partition_epochs` holds, per partition, the lease epoch of the
 * writer instance that owns it (`stage = 'writer'`, raised when an instance acquires the partition, checked and
 * advanced by every commit in the same statement) and the highest lease epoch of the state instances whose
 * results were committed (`stage = 'state'`: results of an older state instance are stale and dropped).
 */
export const partitionEpochs004 = /* sql */ `
CREATE TABLE tl_partition_epochs (
  stage      text   NOT NULL CHECK (stage IN ('writer', 'state')),
  partition  int    NOT NULL CHECK (partition >= 0),
  epoch      bigint NOT NULL CHECK (epoch >= 0),
  PRIMARY KEY (stage, partition)
);

-- Raises a partition's writer fence to p_epoch, or fails with SQLSTATE TLF01 when a newer epoch holds it: for a
-- commit made of several statements in one transaction (the embedded mode's COPY path), where the failure must
-- roll the whole transaction back.
CREATE FUNCTION tl_advance_writer_fence(p_partition int, p_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tl_partition_epochs AS e (stage, partition, epoch) VALUES ('writer', p_partition, p_epoch)
  ON CONFLICT (stage, partition) DO UPDATE SET epoch = EXCLUDED.epoch WHERE e.epoch <= EXCLUDED.epoch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partition % is owned under writer lease epoch %, newer than %', p_partition,
      (SELECT epoch FROM tl_partition_epochs WHERE stage = 'writer' AND partition = p_partition), p_epoch
      USING ERRCODE = 'TLF01';
  END IF;
END
$$;
`;

/** The SQLSTATE `tl_advance_writer_fence` fails with. */
export const FENCED_SQLSTATE = 'TLF01';
