-- entity_meta.rq: sitelink and statement counts and the English Wikipedia title of some items.
-- (The dump's modified / lastrevid are not among the ingested columns.) Parameters: $items.
SELECT i.item, s.sitelinks, c.statements, s.enwiki_title AS title
FROM (SELECT DISTINCT unnest($items) AS item) AS i
LEFT JOIN (SELECT * FROM sitelinks WHERE key IN (SELECT id_key(unnest($items)))) AS s ON s.id = i.item
LEFT JOIN (
    SELECT subject_id, count(*) AS statements FROM statements
    WHERE subject_key IN (SELECT id_key(unnest($items))) GROUP BY subject_id
) AS c ON c.subject_id = i.item
