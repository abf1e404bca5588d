CREATE DATABASE IF NOT EXISTS `synprint`;

CREATE TABLE IF NOT EXISTS `synprint`.syn (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `community_id` String,
    `ip_version` UInt8,
    `ttl` UInt8,
    `initial_ttl` UInt8,
    `distance` Int16,
    `df` UInt8,
    `ip_id` UInt32,
    `tos` UInt8,
    `window` UInt16,
    `options` String,
    `mss` Nullable(UInt16),
    `window_scale` Nullable(UInt8),
    `window_multiple` String,
    `timestamps` UInt8,
    `quirks` Array(String),
    `raw_sig` String,
    `ja4t` String,
    `path_mss` Nullable(UInt16),
    `path_mtu` Nullable(UInt16),
    `path_link` String,
    `path_tunnel` UInt8,
    `path_clamped` UInt8,
    `original_mss` Nullable(UInt16),
    `hops` Nullable(UInt8),
    `os_class` String,
    `os_family` String,
    `os_name` String,
    `os_flavor` String,
    `os_confidence` Float32,
    `os_family_confidence` Float32,
    `os_match` String,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.synack (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `community_id` String,
    `ip_version` UInt8,
    `ttl` UInt8,
    `initial_ttl` UInt8,
    `distance` Int16,
    `df` UInt8,
    `ip_id` UInt32,
    `tos` UInt8,
    `window` UInt16,
    `options` String,
    `mss` Nullable(UInt16),
    `window_scale` Nullable(UInt8),
    `window_multiple` String,
    `timestamps` UInt8,
    `quirks` Array(String),
    `raw_sig` String,
    `ja4t` String,
    `path_mss` Nullable(UInt16),
    `path_mtu` Nullable(UInt16),
    `path_link` String,
    `path_tunnel` UInt8,
    `path_clamped` UInt8,
    `original_mss` Nullable(UInt16),
    `hops` Nullable(UInt8),
    `os_class` String,
    `os_family` String,
    `os_name` String,
    `os_flavor` String,
    `os_confidence` Float32,
    `os_family_confidence` Float32,
    `os_match` String,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.http (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `source` String,
    `syn_ts` DateTime,
    `method` String,
    `host` String,
    `user_agent` String,
    `platform_hint` String,
    `proxy_headers` Array(String),
    `ja4h` String,
    `raw_sig` String,
    `ja4t` String,
    `path_mss` Nullable(UInt16),
    `path_mtu` Nullable(UInt16),
    `path_link` String,
    `path_tunnel` UInt8,
    `path_clamped` UInt8,
    `original_mss` Nullable(UInt16),
    `hops` Nullable(UInt8),
    `os_class` String,
    `os_family` String,
    `os_name` String,
    `os_flavor` String,
    `os_confidence` Float32,
    `os_family_confidence` Float32,
    `os_match` String,
    `flagged` UInt8,
    `score` Float32,
    `reasons` Array(String),
    `ua_class` String,
    `ua_family` String,
    `observation` String,
    `excluded` String,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.alert (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `source` String,
    `syn_ts` DateTime,
    `method` String,
    `host` String,
    `user_agent` String,
    `platform_hint` String,
    `proxy_headers` Array(String),
    `ja4h` String,
    `raw_sig` String,
    `ja4t` String,
    `path_mss` Nullable(UInt16),
    `path_mtu` Nullable(UInt16),
    `path_link` String,
    `path_tunnel` UInt8,
    `path_clamped` UInt8,
    `original_mss` Nullable(UInt16),
    `hops` Nullable(UInt8),
    `os_class` String,
    `os_family` String,
    `os_name` String,
    `os_flavor` String,
    `os_confidence` Float32,
    `os_family_confidence` Float32,
    `os_match` String,
    `flagged` UInt8,
    `score` Float32,
    `reasons` Array(String),
    `ua_class` String,
    `ua_family` String,
    `observation` String,
    `excluded` String,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.conn (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `end_ts` DateTime,
    `stage` String,
    `ending` String,
    `tags` Array(String),
    `connected` UInt8,
    `handshake_rtt` Nullable(Float64),
    `duration` Float64,
    `client_packets` UInt32,
    `client_bytes` UInt64,
    `client_fin` UInt8,
    `client_rst` UInt8,
    `server_packets` UInt32,
    `server_bytes` UInt64,
    `server_fin` UInt8,
    `server_rst` UInt8,
    `reset_ttl` Nullable(UInt8),
    `tfo` String,
    `ecn` String,
    `ecn_bleached` UInt8,
    `accecn` UInt8,
    `os_class` String,
    `os_family` String,
    `path_mtu` Nullable(UInt16),
    `path_tunnel` UInt8,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.flowstats (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `end_ts` DateTime,
    `seconds` Float64,
    `up_packets` UInt32,
    `up_data_packets` UInt32,
    `up_bytes` UInt64,
    `up_entropy` Nullable(Float32),
    `up_interval_mean` Nullable(Float64),
    `up_length_mean` Nullable(Float32),
    `down_packets` UInt32,
    `down_data_packets` UInt32,
    `down_bytes` UInt64,
    `down_entropy` Nullable(Float32),
    `down_interval_mean` Nullable(Float64),
    `down_length_mean` Nullable(Float32),
    `push_ratio` Nullable(Float32),
    `up_down_ratio` Nullable(Float32),
    `connections` UInt32,
    `largest_connection_share` Nullable(Float32),
    `longest_connection` Float64,
    `first_payload_kinds` Array(String),
    `first_payload_counts` Array(UInt32),
    `tls_server_name` String,
    `tls_alpn` String,
    `tls_ja4` String,
    `tunnel_rules` Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.stats (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `packets` UInt64,
    `syn` UInt64,
    `synack` UInt64,
    `skipped` UInt64,
    `malformed` UInt64,
    `libpcap_received` Nullable(UInt64),
    `libpcap_dropped` Nullable(UInt64),
    `libpcap_interface_dropped` Nullable(UInt64),
    `awaiting_request` UInt64,
    `requests` UInt64,
    `flagged` UInt64,
    `alerts_suppressed` UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.tls (
    `sensor` String,
    `event_id` String,
    `ts` DateTime,
    `ts_us` UInt32,
    `src_ip` String,
    `src_port` UInt16,
    `dst_ip` String,
    `dst_port` UInt16,
    `client_net` String,
    `sni` String,
    `alpn` Array(String),
    `versions` Array(String),
    `ciphers` UInt16,
    `extensions` UInt16,
    `cipher_codes` Array(UInt16),
    `extension_codes` Array(UInt16),
    `group_codes` Array(UInt16),
    `grease` UInt8,
    `complete` UInt8,
    `ja4` String,
    `tls_family` String,
    `tls_library` String,
    `tls_name` String,
    `tls_confidence` Float32,
    `tls_library_confidence` Float32,
    `os_class` String,
    `os_family` String,
    `weight` UInt32 DEFAULT 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (sensor, client_net, ts, event_id);

CREATE TABLE IF NOT EXISTS `synprint`.conn_15m (
    `sensor` String,
    `period` DateTime,
    `client_net` String,
    `os_class` String,
    `stage` String,
    `ending` String,
    `tags` String,
    `connections` UInt64,
    `connected` UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(period)
ORDER BY (`sensor`, `period`, `client_net`, `os_class`, `stage`, `ending`, `tags`);

CREATE MATERIALIZED VIEW IF NOT EXISTS `synprint`.conn_15m_feed TO `synprint`.conn_15m
AS SELECT sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, stage, ending, arrayStringConcat(tags, ',') AS tags, toUInt64(weight) AS connections, toUInt64(connected) * weight AS connected
FROM `synprint`.conn;

CREATE TABLE IF NOT EXISTS `synprint`.verdicts_15m (
    `sensor` String,
    `period` DateTime,
    `client_net` String,
    `os_class` String,
    `reason` String,
    `requests` UInt64,
    `flagged` UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(period)
ORDER BY (`sensor`, `period`, `client_net`, `os_class`, `reason`);

CREATE MATERIALIZED VIEW IF NOT EXISTS `synprint`.verdicts_15m_feed TO `synprint`.verdicts_15m
AS SELECT sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, arrayJoin(if(empty(reasons), ['none'], reasons)) AS reason, toUInt64(weight) AS requests, toUInt64(flagged) * weight AS flagged
FROM `synprint`.http;

CREATE TABLE IF NOT EXISTS `synprint`.syn_15m (
    `sensor` String,
    `period` DateTime,
    `client_net` String,
    `os_class` String,
    `os_family` String,
    `syns` UInt64,
    `tunnels` UInt64,
    `clamped` UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(period)
ORDER BY (`sensor`, `period`, `client_net`, `os_class`, `os_family`);

CREATE MATERIALIZED VIEW IF NOT EXISTS `synprint`.syn_15m_feed TO `synprint`.syn_15m
AS SELECT sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, os_family, toUInt64(weight) AS syns, toUInt64(path_tunnel) * weight AS tunnels, toUInt64(path_clamped) * weight AS clamped
FROM `synprint`.syn;

CREATE TABLE IF NOT EXISTS `synprint`.tls_15m (
    `sensor` String,
    `period` DateTime,
    `client_net` String,
    `tls_family` String,
    `tls_library` String,
    `os_family` String,
    `connections` UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(period)
ORDER BY (`sensor`, `period`, `client_net`, `tls_family`, `tls_library`, `os_family`);

CREATE MATERIALIZED VIEW IF NOT EXISTS `synprint`.tls_15m_feed TO `synprint`.tls_15m
AS SELECT sensor, toStartOfFifteenMinutes(ts) AS period, client_net, tls_family, tls_library, os_family, toUInt64(weight) AS connections
FROM `synprint`.tls;
