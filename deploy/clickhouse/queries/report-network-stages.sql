-- synprint report --clickhouse, network-stages: over the last day here; the report sets the scope.
SELECT client_net, stage, sum(weight), min((toUInt64(splitByChar('-', event_id)[-2]), toUInt64(splitByChar('-', event_id)[-1]))) AS first
FROM synprint.conn WHERE ts >= now() - INTERVAL 1 DAY GROUP BY client_net, stage ORDER BY first
