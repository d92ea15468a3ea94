-- Views over an ingest folder, created once per connection. {statements} {terms} {sitelinks} {stats}
-- are the folder's Parquet globs (filled by source.py; never user input).
CREATE VIEW statements AS SELECT * FROM read_parquet('{statements}');
CREATE VIEW terms AS SELECT * FROM read_parquet('{terms}');
CREATE VIEW sitelinks AS SELECT * FROM read_parquet('{sitelinks}');
CREATE VIEW stats AS SELECT * FROM read_parquet('{stats}');
-- Truthy statements (WDQS' wdt: triples): the best non-deprecated rank of each (subject, property)
-- group, and a value (somevalue / novalue carry no fact). A filter on subject_id or property
-- passes below the window, since both are its partition keys.
CREATE VIEW truthy AS
SELECT * EXCLUDE (level, best) FROM (
    SELECT *,
           CASE rank WHEN 'preferred' THEN 2 ELSE 1 END AS level,
           max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END) OVER (PARTITION BY subject_id, property) AS best
    FROM statements
    WHERE rank <> 'deprecated'
) WHERE level = best AND value_type NOT IN ('somevalue', 'novalue');
