-- Ties at the threshold are cut by the stable hash of (salt, id), as on the pool (long_tail.eligible):
-- the items of the population whose criterion equals $value; source.py hashes them (hashes.py) and
-- takes the k-th smallest. Parameters: $criterion, $value.
SELECT 'Q' || key AS item FROM population
WHERE CASE $criterion WHEN 'frequency' THEN frequency ELSE degree END = $value
