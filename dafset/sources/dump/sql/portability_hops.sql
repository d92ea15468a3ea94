-- portability_hops.rq: item-valued truthy facts of some items on some relations, with the values'
-- English labels. Parameters: $items, $properties.
SELECT DISTINCT f.subject_id AS item, f.property, f.object_id AS value, o.label AS valueLabel
FROM truthy_of($items, $properties) AS f
LEFT JOIN terms AS o ON o.id = f.object_id
WHERE f.object_id IS NOT NULL
ORDER BY item, property, value
