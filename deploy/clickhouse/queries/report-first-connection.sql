-- synprint report --clickhouse, first-connection: over the last day here; the report sets the scope.
SELECT toUInt32(end_ts), stage FROM synprint.conn WHERE ts >= now() - INTERVAL 1 DAY ORDER BY (toUInt64(splitByChar('-', event_id)[-2]), toUInt64(splitByChar('-', event_id)[-1])) LIMIT 1
