-- synprint report --clickhouse, windows: over the last day here; the report sets the scope.
SELECT count(), countIf(notEmpty(tunnel_rules)) FROM synprint.flowstats WHERE ts >= now() - INTERVAL 1 DAY
