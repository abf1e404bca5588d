-- synprint report --clickhouse, tunnel-rules: over the last day here; the report sets the scope.
SELECT arrayJoin(tunnel_rules) AS rule, count() FROM synprint.flowstats WHERE ts >= now() - INTERVAL 1 DAY GROUP BY rule
