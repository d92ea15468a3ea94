-- entity_traits.rq: the truthy instance-of classes (P31) and dates of birth, death, inception and
-- dissolution (P569, P570, P571, P576) of some items. Parameters: $items. Values are rendered in
-- Python (source.py's _value), as for the other statement queries.
SELECT DISTINCT subject_id AS item, property, value_type, object_id, value, time, precision, quantity_amount
FROM truthy_of($items, ['P31', 'P569', 'P570', 'P571', 'P576'])
ORDER BY item, property, object_id, time
