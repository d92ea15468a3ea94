-- facts_on_relations.rq: a page of truthy (subject, relation, value) with English labels, in a
-- fixed order. Parameters: $properties, $limit, $offset.
WITH facts AS (
    SELECT DISTINCT subject_id, property, value_type, object_id, value, time, precision, quantity_amount,
           TRY_CAST(quantity_amount AS DOUBLE) AS amount
    FROM truthy_on($properties)
)
SELECT f.subject_id AS item, f.property, f.value_type, f.object_id, f.value, f.time, f.precision,
       f.quantity_amount, s.label AS itemLabel, o.label AS valueLabel
FROM (SELECT * FROM facts ORDER BY subject_id, property, object_id IS NULL, object_id, amount, time, value
      LIMIT $limit OFFSET $offset) AS f
LEFT JOIN terms AS s ON s.id = f.subject_id
LEFT JOIN terms AS o ON o.id = f.object_id
ORDER BY f.subject_id, f.property, f.object_id IS NULL, f.object_id, f.amount, f.time, f.value
