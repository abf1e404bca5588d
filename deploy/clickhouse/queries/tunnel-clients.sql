-- Clients whose flow windows met tunnel rules today, with the rules and the sensors that saw them.
SELECT src_ip, client_net, groupUniqArray(arrayJoin(tunnel_rules)) AS rules, count() AS windows, groupUniqArray(sensor) AS sensors
FROM synprint.flowstats
WHERE ts >= now() - INTERVAL 1 DAY AND notEmpty(tunnel_rules)
GROUP BY src_ip, client_net
ORDER BY windows DESC
LIMIT 50
