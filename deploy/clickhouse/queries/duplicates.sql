-- Rows stored twice (an insert whose answer was lost, sent again): ReplacingMergeTree folds them
-- in a merge; until then, SELECT … FINAL or this query finds them. OPTIMIZE TABLE … FINAL folds now.
SELECT 'conn' AS table, event_id, count() AS copies FROM synprint.conn GROUP BY event_id HAVING copies > 1
UNION ALL
SELECT 'syn' AS table, event_id, count() AS copies FROM synprint.syn GROUP BY event_id HAVING copies > 1
