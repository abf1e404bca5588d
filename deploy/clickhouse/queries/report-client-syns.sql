-- synprint report --clickhouse, client-syns: over the last day here; the report sets the scope.
SELECT os_class, os_name, os_flavor, path_link, path_mtu, sum(path_tunnel), sum(path_clamped), count()
FROM synprint.syn WHERE ts >= now() - INTERVAL 1 DAY GROUP BY os_class, os_name, os_flavor, path_link, path_mtu
