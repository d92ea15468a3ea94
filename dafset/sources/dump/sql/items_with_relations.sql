-- items_with_relations.rq: which of some items have a truthy statement on some relations.
-- Parameters: $items, $properties.
SELECT DISTINCT subject_id AS item
FROM truthy_of($items, $properties)
ORDER BY item
