-- Client networks whose connections end post-ACK most often this hour (at least 10 connections):
-- a sign of blocking or tampering on their path.
SELECT client_net, sum(connections) AS total, sumIf(connections, stage = 'post_ack') / total AS post_ack_share
FROM synprint.conn_15m
WHERE period >= toStartOfFifteenMinutes(now() - INTERVAL 1 HOUR)
GROUP BY client_net
HAVING total >= 10 AND post_ack_share > 0
ORDER BY post_ack_share DESC, total DESC
LIMIT 20
