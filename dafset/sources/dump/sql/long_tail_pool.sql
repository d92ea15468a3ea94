-- The long-tail candidate pool at scale draws from every item of the population (_population.sql)
-- by the stable hash of (salt, id); source.py hashes these ids in numpy (hashes.py: bit-identical
-- to dafset.hashing.stable_hash; DuckDB has no BLAKE2b) and keeps the smallest. No parameters.
SELECT 'Q' || key AS item FROM population
