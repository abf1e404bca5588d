-- The TLS libraries each client network's connections begin with, across the fleet, today.
SELECT client_net, tls_library, tls_family, sum(weight) AS connections, uniqExact(src_ip) AS clients
FROM synprint.tls
WHERE ts >= now() - INTERVAL 1 DAY AND tls_family != ''
GROUP BY client_net, tls_library, tls_family
ORDER BY connections DESC
LIMIT 100
