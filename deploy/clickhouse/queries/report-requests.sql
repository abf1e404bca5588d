-- synprint report --clickhouse, requests: over the last day here; the report sets the scope.
SELECT sum(weight), sum(flagged * weight) FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY
