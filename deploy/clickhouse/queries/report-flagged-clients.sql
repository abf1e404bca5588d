-- synprint report --clickhouse, flagged-clients: over the last day here; the report sets the scope.
SELECT src_ip, sum(weight) AS requests FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY AND flagged GROUP BY src_ip
ORDER BY requests DESC LIMIT 4096
