-- synprint report --clickhouse, requests: over the last day here; the report sets the scope.
SELECT count(), sum(flagged) FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY
