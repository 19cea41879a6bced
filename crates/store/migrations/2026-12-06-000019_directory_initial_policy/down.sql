ALTER TABLE directories DROP COLUMN initial_deprovision_policy;
