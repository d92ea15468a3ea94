-- subjects_with_relations.rq: items with a truthy statement on some relations, by id (lexical).
-- Parameters: $properties, $limit, $offset.
SELECT DISTINCT subject_id AS item
FROM truthy_on($properties)
WHERE subject_id LIKE 'Q%'
ORDER BY item
LIMIT $limit OFFSET $offset
