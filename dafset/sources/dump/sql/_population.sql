-- The long-tail population, once per build and relation set (source.py keeps it as a temp table):
-- every item having a truthy statement on the relations, i.e. a (subject, property) group whose
-- best non-deprecated rank holds a value (somevalue / novalue carry no fact), with the two
-- criteria from the global statistics. A grouped aggregate on the integer key, not the rank
-- window of truthy_on: the same items, without sorting every statement. Parameters: $properties.
CREATE OR REPLACE TEMP TABLE population AS
WITH groups AS (
    SELECT subject_key FROM statements
    WHERE property = ANY($properties) AND rank <> 'deprecated' AND subject_key > 0
    GROUP BY subject_key, property
    HAVING max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END)
         = max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END)
           FILTER (WHERE value_type NOT IN ('somevalue', 'novalue'))
)
SELECT s.key, s.frequency, s.in_degree + s.out_degree AS degree
FROM (SELECT DISTINCT subject_key FROM groups) AS g
JOIN stats AS s ON s.key = g.subject_key
