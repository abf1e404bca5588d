-- synprint report --clickhouse, timeline: over the last day here; the report sets the scope.
SELECT toUInt32(end_ts), stage, sum(weight) FROM synprint.conn WHERE ts >= now() - INTERVAL 1 DAY GROUP BY end_ts, stage ORDER BY end_ts
