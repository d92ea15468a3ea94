-- Ties at the threshold are cut by the stable hash of (salt, id), as on the pool (long_tail.eligible):
-- the $k-th smallest hash among the population's items whose value is $value.
-- Parameters: $properties, $criterion, $value, $salt, $k (>= 1).
WITH population AS (
    SELECT DISTINCT subject_id AS id FROM truthy_on($properties) WHERE subject_id LIKE 'Q%'
)
SELECT stable_hash($salt, id) AS h
FROM population JOIN stats AS s USING (id)
WHERE CASE $criterion WHEN 'frequency' THEN s.frequency ELSE s.in_degree + s.out_degree END = $value
ORDER BY h
LIMIT 1 OFFSET $k - 1
