-- Client OS classes per sensor over the last day, with the shares behind tunnels and clamped MSS.
SELECT sensor, os_class, sum(syns) AS syns, sum(tunnels) / syns AS tunnel_share, sum(clamped) / syns AS clamped_share
FROM synprint.syn_15m
WHERE period >= now() - INTERVAL 1 DAY
GROUP BY sensor, os_class
ORDER BY sensor, syns DESC
