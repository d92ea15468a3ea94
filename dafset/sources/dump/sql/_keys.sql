-- The integer key of a dump id, the sort key of the layout (layout.py): Q42 -> 42, P31 -> -31,
-- anything else NULL. Lookups filter on it (`subject_key IN (SELECT id_key(unnest($items)))`) so
-- that DuckDB skips every row group whose key range holds none of the wanted ids.
CREATE OR REPLACE MACRO id_key(id) AS CASE left(id, 1)
    WHEN 'Q' THEN TRY_CAST(id[2:] AS BIGINT)
    WHEN 'P' THEN -TRY_CAST(id[2:] AS BIGINT)
END;
