-- synprint report --clickhouse, server-synacks: over the last day here; the report sets the scope.
SELECT os_class, sum(weight) FROM synprint.synack WHERE ts >= now() - INTERVAL 1 DAY GROUP BY os_class
