-- objects_of_relation.rq: the most used truthy values of some relations (uses = distinct
-- subjects, as wdt: triples are a set); literals in value order (numbers by amount), as SPARQL
-- orders typed literals. Parameters: $properties, $limit (over all rows).
WITH uses AS (
    SELECT property, value_type, object_id, value, time, precision, quantity_amount,
           TRY_CAST(quantity_amount AS DOUBLE) AS amount,
           count(DISTINCT subject_id) AS uses
    FROM truthy_on($properties)
    GROUP BY ALL
)
SELECT u.*, t.label
FROM (SELECT * FROM uses ORDER BY property, uses DESC, object_id IS NULL, object_id, amount, time, value LIMIT $limit) AS u
LEFT JOIN terms AS t ON t.id = u.object_id
ORDER BY u.property, u.uses DESC, u.object_id IS NULL, u.object_id, u.amount, u.time, u.value
