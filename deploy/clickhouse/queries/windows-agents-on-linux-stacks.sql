-- Networks sending Windows User-Agents over Linux-like TCP stacks, across the fleet, today.
SELECT client_net, sum(weight) AS requests, uniqExact(src_ip) AS clients, groupUniqArray(sensor) AS sensors
FROM synprint.http
WHERE ts >= now() - INTERVAL 1 DAY AND ua_family = 'Windows' AND os_family = 'Linux-like'
GROUP BY client_net
ORDER BY requests DESC
LIMIT 50
