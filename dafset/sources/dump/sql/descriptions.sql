-- descriptions.rq: English description of some items (items without one are absent).
-- Parameters: $items.
SELECT id AS item, description
FROM terms
WHERE id = ANY($items) AND description IS NOT NULL
