-- statement_history.rq: every statement (all ranks) of some items on some relations, with the
-- validity qualifiers. Parameters: $items, $properties. Values are rendered in Python (_value).
SELECT subject_id AS item, property, statement_id AS statement, rank, value_type, object_id, value,
       time, precision, quantity_amount, start_time, end_time
FROM statements
WHERE subject_key IN (SELECT id_key(unnest($items))) AND property = ANY($properties)
  AND value_type NOT IN ('somevalue', 'novalue')
ORDER BY item, property, statement
