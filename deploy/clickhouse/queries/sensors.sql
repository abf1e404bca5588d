-- Each sensor's latest counters (from its stats rows, written with --stats-events) and drops.
SELECT sensor, max(ts) AS last_seen, argMax(packets, ts) AS packets, argMax(syn, ts) AS syns,
       argMax(libpcap_dropped, ts) AS libpcap_dropped
FROM synprint.stats
GROUP BY sensor
ORDER BY sensor
