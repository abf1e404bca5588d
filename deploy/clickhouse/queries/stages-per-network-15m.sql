-- Cloudflare's view: connections per 15 minutes, per client network, by the stage at which they
-- ended and their reset tags, from the conn_15m view (every sensor; add WHERE sensor = '…').
SELECT period, client_net, stage, tags, sum(connections) AS connections
FROM synprint.conn_15m
WHERE period >= now() - INTERVAL 1 DAY
GROUP BY period, client_net, stage, tags
ORDER BY period, connections DESC
