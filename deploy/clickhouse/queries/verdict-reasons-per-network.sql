-- Verdict reasons per client network and sensor over the last day, from the verdicts_15m view.
SELECT sensor, client_net, reason, sum(requests) AS requests, sum(flagged) AS flagged
FROM synprint.verdicts_15m
WHERE period >= now() - INTERVAL 1 DAY
GROUP BY sensor, client_net, reason
ORDER BY flagged DESC, requests DESC
LIMIT 100
