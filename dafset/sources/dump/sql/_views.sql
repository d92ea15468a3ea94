-- Views over an ingest folder's lookup layout (layout.py), created once per connection after
-- _keys.sql. {statements} {terms} {sitelinks} {stats} are lists of the layout's Parquet files
-- (tables.duckdb_files: listed, quoted, never a glob). Each table is sorted by an integer key
-- (statements: subject_key, with object_key beside object_id; the others: key), so a query that
-- filters on the key reads only the row groups that can hold the wanted ids:
--   WHERE subject_key IN (SELECT id_key(unnest($items)))      -- not `subject_id = ANY($items)`
--   JOIN terms AS o ON o.key = f.object_key                    -- not `o.id = f.object_id`
CREATE VIEW statements AS SELECT * FROM read_parquet({statements});
CREATE VIEW terms AS SELECT * FROM read_parquet({terms});
CREATE VIEW sitelinks AS SELECT * FROM read_parquet({sitelinks});
CREATE VIEW stats AS SELECT * FROM read_parquet({stats});
-- Truthy statements (WDQS' wdt: triples): the best non-deprecated rank of each (subject, property)
-- group, and a value (somevalue / novalue carry no fact). Table macros, so that the relation (and
-- item) filter is applied while scanning, before the ranks are compared: both are partition keys
-- of the rank window, so filtering first gives the same rows. truthy_on partitions by the string id
-- (a subject whose id has no key stays apart); truthy_of only meets keyed subjects.
CREATE MACRO truthy_on(props) AS TABLE
SELECT * EXCLUDE (level, best) FROM (
    SELECT *,
           CASE rank WHEN 'preferred' THEN 2 ELSE 1 END AS level,
           max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END) OVER (PARTITION BY subject_id, property) AS best
    FROM statements
    WHERE property = ANY(props) AND rank <> 'deprecated'
) WHERE level = best AND value_type NOT IN ('somevalue', 'novalue');
CREATE MACRO truthy_of(items, props) AS TABLE
SELECT * EXCLUDE (level, best) FROM (
    SELECT *,
           CASE rank WHEN 'preferred' THEN 2 ELSE 1 END AS level,
           max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END) OVER (PARTITION BY subject_key, property) AS best
    FROM statements
    WHERE subject_key IN (SELECT id_key(unnest(items))) AND property = ANY(props) AND rank <> 'deprecated'
) WHERE level = best AND value_type NOT IN ('somevalue', 'novalue');
