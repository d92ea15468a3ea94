-- truthy_facts.rq: best-rank statements of some items on some relations, with date qualifiers.
-- Parameters: $items, $properties (lists). Values are rendered in Python (source.py: _value).
SELECT subject_id AS item, property, statement_id AS statement, rank, value_type, object_id, value,
       time, precision, quantity_amount, start_time, point_in_time, publication_date
FROM truthy_of($items, $properties)
ORDER BY item, property, statement
