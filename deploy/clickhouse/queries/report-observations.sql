-- synprint report --clickhouse, observations: over the last day here; the report sets the scope.
SELECT observation FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY AND observation != '' ORDER BY ts, ts_us, event_id
