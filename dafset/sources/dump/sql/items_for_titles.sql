-- items_for_titles.rq: English Wikipedia titles -> items through the sitelinks. Parameters: $titles.
SELECT enwiki_title AS title, id AS item
FROM sitelinks
WHERE enwiki_title = ANY($titles)
