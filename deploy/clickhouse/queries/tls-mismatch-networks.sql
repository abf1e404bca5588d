-- Networks whose checked HTTPS requests name a browser or library over another TLS library
-- (tls_mismatch), across the fleet, today.
SELECT client_net, sum(weight) AS requests, uniqExact(src_ip) AS clients, groupUniqArray(sensor) AS sensors
FROM synprint.http
WHERE ts >= now() - INTERVAL 1 DAY AND has(reasons, 'tls_mismatch')
GROUP BY client_net
ORDER BY requests DESC
LIMIT 50
