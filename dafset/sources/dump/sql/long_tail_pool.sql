-- The long-tail candidate pool at scale: a uniform sample of ALL items having a truthy statement on
-- the relations, chosen by a stable hash of (salt, id) (dafset.hashing.stable_hash), never by id
-- order. Parameters: $properties, $salt, $limit.
SELECT item FROM (
    SELECT DISTINCT subject_id AS item FROM truthy_on($properties) WHERE subject_id LIKE 'Q%'
)
ORDER BY stable_hash($salt, item)
LIMIT $limit
