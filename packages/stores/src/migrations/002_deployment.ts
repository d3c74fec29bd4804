/**
 * Migration 002: the deployment's identity, one random id per database. The state stage prefixes its Redis keys
 * with it, so a fresh database never reads the state another database's run left in the same Redis.
 */
export const deployment002 = /* sql */ `
CREATE TABLE tl_deployment (
  singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tl_deployment DEFAULT VALUES;
`;
