-- The global distribution of a long-tail criterion over every item having a truthy statement on the
-- relations (the population the pool samples, _population.sql): value -> number of items.
-- Parameters: $criterion ('frequency' | 'degree').
SELECT CASE $criterion WHEN 'frequency' THEN frequency ELSE degree END AS value, count(*) AS n
FROM population
GROUP BY value
ORDER BY value
