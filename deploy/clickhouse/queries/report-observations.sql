-- synprint report --clickhouse, observations: over the last day here; the report sets the scope.
SELECT observation, any(ua_class), count(), toUInt32(min(syn_ts)), toUInt32(max(syn_ts))
FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY AND observation != '' GROUP BY observation ORDER BY observation
