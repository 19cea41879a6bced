-- The deprovisioning policy a directory was created with. Later changes are change events
-- (DirectorySettingsChanged) in the log, but creation is a control-plane row: `roster rebuild`
-- starts each directory from this policy and replays the log, which reproduces every change.
-- Directories created before this column existed are taken to have started with their
-- current policy.
ALTER TABLE directories
    ADD COLUMN initial_deprovision_policy text NOT NULL DEFAULT 'tombstone'
        CHECK (initial_deprovision_policy IN ('tombstone', 'erase'));
UPDATE directories SET initial_deprovision_policy = deprovision_policy;
