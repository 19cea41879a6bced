-- SCIM filters answered from Postgres (crates/store/src/filter_sql.rs). The functions mirror the
-- in-memory evaluator of `roster_scim::filter` so that SQL and `Filter::matches` agree exactly.

-- Case folding of attribute values, as Rust's `str::to_lowercase` does it (full Unicode
-- mappings, final sigma): ICU's root locale, not the database's libc locale.
CREATE INDEX users_user_name_fold ON users (directory_id, lower(user_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;
CREATE INDEX users_display_name_fold ON users (directory_id, lower(display_name COLLATE "und-x-icu"))
    WHERE deleted_at IS NULL;

-- `eq_ignore_ascii_case` on attribute names.
CREATE FUNCTION roster_scim_fold_ascii(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');

-- `get`: `obj[name]`, the exact key first, else the first key equal ignoring ASCII case; a JSON
-- null counts as absent (SQL NULL).
CREATE FUNCTION roster_scim_get(obj jsonb, name text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    found jsonb;
BEGIN
    IF jsonb_typeof(obj) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    IF obj ? name THEN
        found := obj -> name;
    ELSE
        SELECT e.value INTO found
        FROM jsonb_each(obj) WITH ORDINALITY AS e(key, value, n)
        WHERE roster_scim_fold_ascii(e.key) = roster_scim_fold_ascii(name)
        ORDER BY e.n LIMIT 1;
    END IF;
    RETURN NULLIF(found, 'null'::jsonb);
END
$$;

-- `lookup_attribute` for a path without URN: the top level, else the first extension object
-- (a key starting with `urn:`) that has the attribute.
CREATE FUNCTION roster_scim_lookup(resource jsonb, attr text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    found jsonb;
    member record;
BEGIN
    found := roster_scim_get(resource, attr);
    IF found IS NOT NULL OR jsonb_typeof(resource) IS DISTINCT FROM 'object' THEN
        RETURN found;
    END IF;
    FOR member IN
        SELECT e.key, e.value FROM jsonb_each(resource) WITH ORDINALITY AS e(key, value, n)
        ORDER BY e.n
    LOOP
        IF roster_scim_fold_ascii(left(member.key, 4)) = 'urn:' THEN
            found := roster_scim_get(member.value, attr);
            IF found IS NOT NULL THEN
                RETURN found;
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- `push_flattened`: nothing for null, the non-null elements of an array, else the value.
CREATE FUNCTION roster_scim_flatten(v jsonb) RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT e FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE '[]' END) AS e
    WHERE e <> 'null'::jsonb
    UNION ALL
    SELECT v WHERE jsonb_typeof(v) NOT IN ('array', 'null')
$$;

-- `is_empty` / `is_present` (`pr`).
CREATE FUNCTION roster_scim_nonempty(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
    WHEN 'null' THEN false
    WHEN 'string' THEN v <> '""'::jsonb
    WHEN 'array' THEN v <> '[]'::jsonb
    WHEN 'object' THEN v <> '{}'::jsonb
    ELSE v IS NOT NULL
END;

CREATE FUNCTION roster_scim_present(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
    WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(v) AS e WHERE roster_scim_nonempty(e))
    WHEN 'object' THEN EXISTS (SELECT 1 FROM jsonb_each(v) AS e WHERE roster_scim_nonempty(e.value))
    ELSE coalesce(roster_scim_nonempty(v), false)
END;

-- An RFC 3339 date-time as chrono's `DateTime::parse_from_rfc3339` reads it, as an orderable
-- number: (UTC seconds since 1970) * 2e9 + nanoseconds, where a leap second (`:60`) is second
-- 59 with 1e9 extra nanoseconds, as chrono orders it. NULL when chrono would not parse it.
CREATE FUNCTION roster_scim_instant(t text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    m text[];
    y bigint; mo int; d int; h int; mi int; s int;
    nanos bigint := 0;
    off bigint := 0;
    dim int; yy bigint; era bigint; yoe bigint; doy bigint; days bigint;
BEGIN
    m := regexp_match(t, '^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([-+−])([0-9]{2}):([0-9]{2}))$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::bigint; mo := m[2]::int; d := m[3]::int;
    h := m[4]::int; mi := m[5]::int; s := m[6]::int;
    IF mo < 1 OR mo > 12 OR d < 1 THEN
        RETURN NULL;
    END IF;
    dim := CASE
        WHEN mo = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
        WHEN mo IN (4, 6, 9, 11) THEN 30
        ELSE 31
    END;
    IF d > dim OR h > 23 OR mi > 59 OR s > 60 THEN
        RETURN NULL;
    END IF;
    IF m[7] IS NOT NULL THEN
        nanos := rpad(left(substr(m[7], 2), 9), 9, '0')::bigint;
    END IF;
    IF s = 60 THEN
        s := 59;
        nanos := nanos + 1000000000;
    END IF;
    IF m[9] IS NOT NULL THEN
        IF m[10]::int > 23 OR m[11]::int > 59 THEN
            RETURN NULL;
        END IF;
        off := m[10]::bigint * 3600 + m[11]::bigint * 60;
        IF m[9] <> '+' THEN
            off := -off;
        END IF;
    END IF;
    -- Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
    yy := y - CASE WHEN mo <= 2 THEN 1 ELSE 0 END;
    era := floor(yy / 400.0);
    yoe := yy - era * 400;
    doy := (153 * (mo + CASE WHEN mo > 2 THEN -3 ELSE 9 END) + 2) / 5 + d - 1;
    days := era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    RETURN (days * 86400 + h * 3600 + mi * 60 + s - off)::numeric * 2000000000 + nanos;
END
$$;

-- Entra's `emails[type eq "work"].value eq "x"`: the folded string values of `emails.value`, as
-- the evaluator finds them (top level, else an extension; a non-object element is its own
-- value), so that the filter can first narrow rows through a GIN index.
CREATE FUNCTION roster_scim_email_keys(resource jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(
    SELECT DISTINCT lower((v #>> '{}') COLLATE "und-x-icu")
    FROM roster_scim_flatten(roster_scim_lookup(resource, 'emails')) AS e,
         roster_scim_flatten(CASE WHEN jsonb_typeof(e) = 'object' THEN roster_scim_get(e, 'value')
                                  ELSE e END) AS v
    WHERE jsonb_typeof(v) = 'string');
CREATE INDEX users_email_keys ON users USING gin (roster_scim_email_keys(resource))
    WHERE deleted_at IS NULL;
