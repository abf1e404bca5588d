-- synprint report --clickhouse, connections: over the last day here; the report sets the scope.
SELECT os_class, stage, ending, arrayStringConcat(tags, ','), tfo, ecn, sum(ecn_bleached * weight), sum(weight)
FROM synprint.conn WHERE ts >= now() - INTERVAL 1 DAY GROUP BY os_class, stage, ending, tags, tfo, ecn
