-- synprint report --clickhouse, exclusions: over the last day here; the report sets the scope.
SELECT excluded, count() FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY AND excluded != '' GROUP BY excluded ORDER BY excluded
