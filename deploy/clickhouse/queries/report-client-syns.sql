-- synprint report --clickhouse, client-syns: over the last day here; the report sets the scope.
SELECT os_class, os_name, os_flavor, path_link, path_mtu, sum(path_tunnel * weight), sum(path_clamped * weight), sum(weight)
FROM synprint.syn WHERE ts >= now() - INTERVAL 1 DAY GROUP BY os_class, os_name, os_flavor, path_link, path_mtu
