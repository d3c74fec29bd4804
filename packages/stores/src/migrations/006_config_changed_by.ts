/**
 * Migration 006: each version in the configuration history keeps who made the change (`changed_by`, as the config
 * service authenticated it: `token:<name>`, `cert:<common name>`, `open:<peer>`; the database role for a row
 * written otherwise), next to when (`updated_at`). History rows written before this migration keep NULL.
 */
export const configChangedBy006 = /* sql */ `
ALTER TABLE tenant_config_history ADD COLUMN changed_by text;
ALTER TABLE tenant_config_history ALTER COLUMN changed_by SET DEFAULT current_user;
`;
