-- labels.rq: English label and aliases of some items (one row per item; source.py makes one row
-- per alias as the SPARQL query does). Parameters: $items.
SELECT i.item, t.label, t.aliases
FROM (SELECT DISTINCT unnest($items) AS item) AS i
LEFT JOIN (SELECT * FROM terms WHERE key IN (SELECT id_key(unnest($items)))) AS t ON t.id = i.item
