-- The global distribution of a long-tail criterion over every item having a truthy statement on the
-- relations (the population the pool samples): value -> number of items.
-- Parameters: $properties, $criterion ('frequency' | 'degree').
WITH population AS (
    SELECT DISTINCT subject_id AS id FROM truthy_on($properties) WHERE subject_id LIKE 'Q%'
)
SELECT CASE $criterion WHEN 'frequency' THEN s.frequency ELSE s.in_degree + s.out_degree END AS value,
       count(*) AS n
FROM population JOIN stats AS s USING (id)
GROUP BY value
ORDER BY value
