-- synprint report --clickhouse, checked-hellos: over the last day here; the report sets the scope.
SELECT checked_user_agent, cipher_codes, extension_codes, group_codes, grease, alpn FROM synprint.tls
ALL INNER JOIN (SELECT sensor, src_ip, src_port, any(user_agent) AS checked_user_agent FROM synprint.http
WHERE source = 'api' AND user_agent != '' GROUP BY sensor, src_ip, src_port) AS checks USING (sensor, src_ip, src_port)
WHERE ts >= now() - INTERVAL 1 DAY AND complete = 1
