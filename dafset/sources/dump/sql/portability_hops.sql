-- portability_hops.rq: item-valued truthy facts of some items on some relations, with the values'
-- English labels. Parameters: $items, $properties.
WITH f AS (SELECT * FROM truthy_of($items, $properties) WHERE object_id IS NOT NULL)
SELECT DISTINCT f.subject_id AS item, f.property, f.object_id AS value, o.label AS valueLabel
FROM f
LEFT JOIN (SELECT key, label FROM terms WHERE key IN (SELECT object_key FROM f)) AS o ON o.key = f.object_key
ORDER BY item, property, value
