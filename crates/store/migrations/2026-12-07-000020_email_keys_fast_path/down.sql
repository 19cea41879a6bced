CREATE OR REPLACE FUNCTION roster_scim_email_keys(resource jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(
    SELECT DISTINCT lower((v #>> '{}') COLLATE "und-x-icu")
    FROM roster_scim_flatten(roster_scim_lookup(resource, 'emails')) AS e,
         roster_scim_flatten(CASE WHEN jsonb_typeof(e) = 'object' THEN roster_scim_get(e, 'value')
                                  ELSE e END) AS v
    WHERE jsonb_typeof(v) = 'string');

DROP FUNCTION roster_scim_email_keys_general(jsonb);
