-- synprint report --clickhouse, reasons: over the last day here; the report sets the scope.
SELECT arrayJoin(reasons) AS reason, sum(weight) FROM synprint.http WHERE ts >= now() - INTERVAL 1 DAY GROUP BY reason
