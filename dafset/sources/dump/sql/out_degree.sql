-- out_degree.rq from the global statistics (stats/entities.parquet; see stats.py for the definition).
-- Parameters: $items. An item the dump does not hold counts 0, as in the SPARQL query.
SELECT i.item, coalesce(s.out_degree, 0) AS outDegree
FROM (SELECT DISTINCT unnest($items) AS item) AS i
LEFT JOIN (SELECT * FROM stats WHERE key IN (SELECT id_key(unnest($items)))) AS s ON s.id = i.item
