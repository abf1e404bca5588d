import API
import ArgumentParser
import Fleet
import Foundation
import Output
import SynprintKit

struct InputOptions: ParsableArguments {
    @Option(
        name: .customShort("r"),
        help: ArgumentHelp("Read a pcap or pcapng file ('-' for standard input); repeat for several.", valueName: "file"))
    var read: [String] = []

    @Option(
        name: .customShort("i"), help: ArgumentHelp("Capture live on an interface (needs root, or cap_net_raw).", valueName: "interface"))
    var interface: String?

    @Flag(name: .customLong("list-interfaces"), help: "List the interfaces libpcap can capture on, and exit.")
    var listInterfaces = false

    // Unconditional: `-c -5` is a bad count, not a missing one followed by an option `-5`.
    @Option(
        name: .customShort("c"), parsing: .unconditional,
        help: ArgumentHelp("Stop after this many fingerprinted SYNs and SYN+ACKs.", valueName: "count"))
    var count: Int?

    @Flag(name: .customShort("p"), help: "Put the interface in promiscuous mode.")
    var promiscuous = false

    @Option(help: "Bytes captured per packet on a live interface.")
    var snaplen: Int32 = 65535

    @Option(
        name: .customLong("buffer-size"),
        help: ArgumentHelp(
            "The kernel's capture buffer in bytes (libpcap's default is 2 MiB); raise it when the stats show drops.", valueName: "bytes"))
    var bufferSize: Int32?

    @Option(
        name: .customLong("stats-interval"),
        help: ArgumentHelp(
            "Print packet, SYN and drop counts on standard error every this many seconds (default 60 for live captures, off for files; 0 turns it off).",
            valueName: "seconds"))
    var statsInterval: Int?

    @Option(
        parsing: .unconditional,  // `--workers -1` is a bad count, not a missing one
        help: ArgumentHelp(
            "Pipelines on threads of their own, each taking every packet of its clients; 'auto' is one per core this process may use (docs/WORKERS.md).",
            valueName: "count|auto"))
    var workers: WorkerCount = .count(1)

    @Flag(
        name: .customLong("stats-events"),
        help: "Also write each stats line as a {\"type\": \"stats\"} event into the JSON event output (as Suricata's stats.log).")
    var statsEvents = false
}

/// `--workers`: a number, or `auto` for the cores the process may use.
enum WorkerCount: ExpressibleByArgument, Equatable {
    case count(Int)
    case auto

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let count = Int(argument) {
            self = .count(count)
        } else {
            return nil
        }
    }

    /// The most workers: beyond this, rounds and the merge cost more than the cores give.
    static let maximum = 64

    var resolved: Int {
        switch self {
        case .count(let count): count
        case .auto: min(ProcessInfo.processInfo.activeProcessorCount, WorkerCount.maximum)
        }
    }

    var defaultValueDescription: String { "1" }
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Write one JSON object per line (docs/OUTPUT.md); the same as --log-format json.")
    var json = false

    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp("Event format: text blocks, json lines, or p0f's key=value log lines.", valueName: "text|json|p0f"))
    var logFormat: EventFormat?

    @Option(
        name: .customShort("o"),
        help: ArgumentHelp(
            "Append events to this file instead of writing them to standard output (- is standard output); repeat to write the same events to several; SIGHUP reopens them.",
            valueName: "file"))
    var output: [String] = []

    @Flag(help: "Empty the -o files first instead of appending to them.")
    var truncate = false

    @Option(
        name: .customLong("event-schema"),
        help: ArgumentHelp(
            "JSON field names: synprint's own, Elastic Common Schema, or Suricata's EVE (docs/OUTPUT.md).", valueName: "native|ecs|eve"))
    var eventSchema: EventSchema = .native

    @Option(
        name: .customLong("sensor-name"), help: ArgumentHelp("The name every event carries (default: the host name).", valueName: "name"))
    var sensorName: String?

    @Option(
        help: ArgumentHelp(
            "At the end, an overview of what was seen: OS mix, links, verdicts, most flagged clients (default: text when reading files on a terminal).",
            valueName: "text|json"))
    var summary: SummaryFormat?

    @Option(
        help: ArgumentHelp(
            "With --connections, at the end: an SVG chart of the stage shares over time and per client network, drawn by gnuplot.",
            valueName: "file.svg"))
    var chart: String?

    @Flag(
        help:
            "Follow every connection that starts with a client SYN to its end and write a conn event: stage, how it ended, reset tags, Fast Open and ECN (docs/CONNECTIONS.md)."
    )
    var connections = false

    @Flag(
        name: .customLong("flow-stats"),
        help:
            "Windowed flow statistics per client (entropy, intervals, payload lengths, first payloads) as flowstats events, and the tunnel_flow verdict (docs/FLOWSTATS.md)."
    )
    var flowStats = false

    @Option(
        name: .customLong("flow-window-packets"),
        help: ArgumentHelp("With --flow-stats, a client's window closes after this many packets.", valueName: "count"))
    var flowWindowPackets = Settings().flowWindowPackets

    @Option(
        name: .customLong("flow-window-seconds"),
        help: ArgumentHelp("With --flow-stats, or after this many seconds.", valueName: "seconds"))
    var flowWindowSeconds = Settings().flowWindowSeconds

    @Option(
        name: .customLong("connection-timeout"),
        help: ArgumentHelp(
            "With --connections, seconds without a packet before a connection is written as timed out.", valueName: "seconds")
    )
    var connectionTimeout = Settings().connectionTimeout

    var format: EventFormat { logFormat ?? (json ? .json : .text) }
}

enum SummaryFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct MatchingOptions: ParsableArguments {
    @Flag(help: "Name the OS of every SYN and SYN+ACK from the fingerprint database.")
    var classify = false

    @Option(
        name: .customLong("db"),
        help: ArgumentHelp("Use this database file instead of the shipped one; repeat to merge several.", valueName: "file"))
    var databases: [String] = []

    @Option(
        name: .customLong("weight"),
        help: ArgumentHelp("Override a matcher weight, e.g. layout=5 (docs/MATCHING.md).", valueName: "name=value"))
    var weights: [String] = []
}

struct VerdictOptions: ParsableArguments {
    @Flag(
        help:
            "Follow each connection to its first plain-HTTP request and judge its User-Agent against the SYN, or to its TLS ClientHello and name its TLS library (implied by --alerts, --learn and the APIs; implies --classify)."
    )
    var http = false

    @Flag(
        help:
            "Follow each connection to its TLS ClientHello only and name its TLS library (tls events), without reading plain-HTTP requests (--http reads both; implies --classify)."
    )
    var tls = false

    @Option(
        help: ArgumentHelp(
            "Append one JSON line per flagged connection to this file ('-' for standard output); SIGHUP reopens it.", valueName: "file"))
    var alerts: String?

    @Option(
        name: .customLong("alert-threshold"),
        help: ArgumentHelp("Flag a connection when its verdict score reaches this (0-1; default 0.5).", valueName: "score"))
    var alertThreshold: Float?

    @Option(
        name: .customLong("verdict-rule"),
        help: ArgumentHelp(
            "Override a verdict rule: a reason's weight (os_mismatch=0.8), confidence=0.9, or level=class.", valueName: "name=value"))
    var rules: [String] = []

    @Option(
        name: .customLong("alerts-per-host"),
        help: ArgumentHelp(
            "Alerts written per client address per minute at most (default 10); the rest are counted as suppressed.", valueName: "count"))
    var alertsPerHost: Int?

    @Option(
        name: .customLong("alerts-per-second"),
        help: ArgumentHelp("Alerts written per second at most, in all (default 100).", valueName: "count"))
    var alertsPerSecond: Int?

    @Option(
        help: ArgumentHelp(
            "Record labelled observations (HTTP User-Agents in the capture, API checks) to this file for `synprint db build --learned`.",
            valueName: "file"))
    var learn: String?

    @Option(
        name: .customLong("learn-tls"),
        help: ArgumentHelp(
            "Record the ClientHellos of the connections the API checks, labelled by the checks' User-Agents, to this file for `synprint db build --tls OUT --learned-tls FILE` (needs --api).",
            valueName: "file"))
    var learnTLS: String?
}

struct APIOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve the lookup API (GET /v1/lookup, POST /v1/check) on this address; off by default. A bare port binds 127.0.0.1.",
            valueName: "host:port"))
    var api: String?

    @Option(
        name: .customLong("api-key-file"),
        help: ArgumentHelp(
            "Require the key in this file (its first line) in the X-API-Key header (or Authorization: Bearer) of every API request. $SYNPRINT_API_KEY works too; a key given with --api-key is visible to every local user in ps.",
            valueName: "file"))
    var apiKeyFile: String?

    @Option(name: .customLong("api-key"), help: ArgumentHelp("The API key itself (prefer --api-key-file).", valueName: "key"))
    var apiKey: String?

    @Option(
        name: .customLong("p0f-socket"),
        help: ArgumentHelp("Answer p0f's unix-socket queries on this path, so p0f clients work unchanged.", valueName: "path"))
    var p0fSocket: String?

    @Option(
        name: .customLong("p0f-socket-mode"),
        help: ArgumentHelp("Permissions of the p0f socket, octal (as p0f: any local user may ask).", valueName: "mode"))
    var p0fSocketModeText = "0666"

    @Flag(name: .customLong("allow-root"), help: "Serve the APIs, the p0f socket and the metrics while running as root (without -u).")
    var allowRoot = false

    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at /metrics on this address (a bare port binds 127.0.0.1); the API serves them too.",
            valueName: "host:port"))
    var metrics: String?

    @Option(
        name: .customLong("auth-address-header"),
        help: ArgumentHelp(
            "GET /v1/auth: the header the proxy puts the client's address in (a list such as X-Forwarded-For gives its last element).",
            valueName: "name"))
    var authAddressHeader = APIServer.Settings.Auth().addressHeader

    @Option(
        name: .customLong("auth-port-header"), help: ArgumentHelp("GET /v1/auth: the header with the client's port.", valueName: "name"))
    var authPortHeader = APIServer.Settings.Auth().portHeader

    @Option(
        name: .customLong("auth-user-agent-header"),
        help: ArgumentHelp("GET /v1/auth: the header with the client's User-Agent.", valueName: "name"))
    var authUserAgentHeader = APIServer.Settings.Auth().userAgentHeader

    @Option(
        name: .customLong("auth-wait-ms"),
        help: ArgumentHelp(
            "GET /v1/auth: milliseconds to wait for a SYN the capture has not handed on yet (at most 2000).", valueName: "ms"))
    var authWait = APIServer.Settings.Auth().waitMilliseconds

    @Option(
        name: .customLong("auth-block-score"),
        help: ArgumentHelp(
            "GET /v1/auth: refuse (403) a flagged request scoring at least this (0 to 1); without it every request is let through with its verdict.",
            valueName: "score"))
    var authBlockScore: Float?

    var p0fSocketMode: UInt32 { UInt32(p0fSocketModeText, radix: 8) ?? 0o666 }

    /// The forward-auth settings of `GET /v1/auth`.
    var auth: APIServer.Settings.Auth {
        var auth = APIServer.Settings.Auth()
        auth.addressHeader = authAddressHeader
        auth.portHeader = authPortHeader
        auth.userAgentHeader = authUserAgentHeader
        auth.waitMilliseconds = authWait
        auth.blockScore = authBlockScore
        return auth
    }

    func validate() throws {
        for (option, name) in [
            ("--auth-address-header", authAddressHeader), ("--auth-port-header", authPortHeader),
            ("--auth-user-agent-header", authUserAgentHeader),
        ] where !APIServer.Settings.Auth.isHeaderName(name) {
            throw ValidationError("\(option) takes a header name, found \"\(name)\"")
        }
        guard (0...APIServer.Settings.maxWaitMilliseconds).contains(authWait) else {
            throw ValidationError("--auth-wait-ms takes 0 to \(APIServer.Settings.maxWaitMilliseconds)")
        }
        if let authBlockScore, !(authBlockScore.isFinite && (0...1).contains(authBlockScore)) {
            throw ValidationError("--auth-block-score is a score from 0 to 1")
        }
        if let metrics, APIServer.Settings(address: metrics, key: nil) == nil {
            throw ValidationError("--metrics takes HOST:PORT or PORT, found \"\(metrics)\"")
        }
        if let api, APIServer.Settings(address: api, key: nil) == nil {
            throw ValidationError("--api takes HOST:PORT or PORT (default address 127.0.0.1:8249), found \"\(api)\"")
        }
        if (apiKey != nil || apiKeyFile != nil) && api == nil { throw ValidationError("--api-key and --api-key-file need --api") }
        if apiKey != nil && apiKeyFile != nil { throw ValidationError("give --api-key or --api-key-file, not both") }
        guard let mode = UInt32(p0fSocketModeText, radix: 8), mode <= 0o777 else {
            throw ValidationError("--p0f-socket-mode takes an octal mode such as 0660, found \"\(p0fSocketModeText)\"")
        }
    }

    /// The key from --api-key-file, $SYNPRINT_API_KEY or --api-key.
    func key() throws -> String? {
        guard api != nil else { return nil }
        if let apiKeyFile {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8),
                let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty
            else { throw Failure("\(apiKeyFile): cannot read an API key from it (one line, not empty)") }
            return line
        }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SYNPRINT_API_KEY"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return apiKey
    }
}

struct ServiceOptions: ParsableArguments {
    /// Read by `ConfigurationFile` before parsing; declared here for help and completions.
    @Option(
        help: ArgumentHelp(
            "Options from a YAML file (each key a long option name; deploy/synprint.yaml); the command line overrides it.",
            valueName: "file"))
    var config: String?

    @Option(
        name: [.customShort("u"), .customLong("user")],
        help: ArgumentHelp(
            "Once the capture, sockets and outputs are open, switch to this user with no capabilities and no-new-privileges (as p0f's -u).",
            valueName: "user"))
    var user: String?

    @Option(help: ArgumentHelp("With -u, also chroot to this folder (outputs reopened on SIGHUP are then inside it).", valueName: "folder"))
    var chroot: String?

    @Option(
        help: ArgumentHelp("The umask for files synprint creates, octal (default: files are created 0600).", valueName: "mask"),
        transform: { text in
            guard let mask = UInt32(text, radix: 8), mask <= 0o777 else { throw ValidationError("--umask takes an octal mask such as 027") }
            return mask
        })
    var umask: UInt32?

    @Option(
        help: ArgumentHelp(
            "The memory budget of the tables that grow with traffic, e.g. 256M (default 128M; docs/OPERATIONS.md).", valueName: "size"))
    var memcap: String?

    // --max-flows, its name until "flow" came to mean the flow statistics, is kept for a release.
    @Option(
        name: [.customLong("max-awaiting"), .customLong("max-flows")],
        help: ArgumentHelp(
            "Connections awaiting their first request at once (fewer when --memcap says so); --max-flows is its old name.",
            valueName: "count"))
    var maxAwaiting = Settings().maxAwaiting

    @Option(
        name: .customLong("max-connections"),
        help: ArgumentHelp(
            "Connections followed to their end at once with --connections (fewer when --memcap says so).",
            valueName: "count"))
    var maxConnections = Settings().maxConnections

    @Option(
        name: .customLong("max-hosts"),
        help: ArgumentHelp("Client addresses whose history is kept (fewer when --memcap says so).", valueName: "count"))
    var maxHosts = Settings().maxHosts
}

/// How to reach the fleet store, for the capture, `report`, `db build` and `clickhouse init`
/// alike: who the sensor is there, and which certificates vouch for an https:// server.
struct StoreAccess: ParsableArguments {
    @Option(
        name: .customLong("clickhouse-credentials"),
        help: ArgumentHelp(
            "A file of one line user:password for ClickHouse, readable by its owner only; or $SYNPRINT_CLICKHOUSE_USER and $SYNPRINT_CLICKHOUSE_PASSWORD.",
            valueName: "file"))
    var credentials: String?

    @Option(
        name: .customLong("clickhouse-ca"),
        help: ArgumentHelp(
            "PEM certificates to trust for an https:// ClickHouse, beside the system's (a private CA's, or the server's own).",
            valueName: "file"))
    var authority: String?

    var given: Bool { credentials != nil || authority != nil }

    /// A store's URL with the user and password from `credentials` (or the environment) and the
    /// certificates of `authority`, checked now so that a bad file is one line at start.
    func address(_ url: String) throws -> StoreAddress {
        var address = try StoreAccess.parse(url)
        (address.user, address.password) = try StoreAccess.credentials(file: credentials)
        if let authority {
            guard address.base.hasPrefix("https:") else { throw Failure("--clickhouse-ca goes with an https:// URL, found \(url)") }
            if let problem = StoreClient.checkAuthority(authority) { throw Failure(problem) }
            address.authority = authority
        }
        return address
    }

    static func parse(_ url: String) throws -> StoreAddress {
        switch StoreAddress.parse(url) {
        case .success(let parsed): parsed
        case .failure(let error): throw Failure(error.description)
        }
    }

    /// `user:password` from the file (refused when others may read it) or the environment.
    static func credentials(file: String?) throws -> (String?, String?) {
        guard let file else {
            let environment = ProcessInfo.processInfo.environment
            return (environment["SYNPRINT_CLICKHOUSE_USER"], environment["SYNPRINT_CLICKHOUSE_PASSWORD"])
        }
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw Failure("\(file): cannot read the ClickHouse credentials: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(
                "\(file): others may read the ClickHouse credentials (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let line = text.split(whereSeparator: \.isNewline).first, let colon = line.firstIndex(of: ":"), colon != line.startIndex
        else { throw Failure("\(file): expected one line user:password") }
        return (String(line[..<colon]), String(line[line.index(after: colon)...]))
    }
}

struct StoreOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Also send every event to the fleet store: ClickHouse's HTTP interface, http(s)://HOST:8123/DATABASE (docs/FLEET.md).",
            valueName: "url"))
    var clickhouse: String?

    @OptionGroup
    var access: StoreAccess

    @Option(
        name: .customLong("clickhouse-spool"),
        help: ArgumentHelp(
            "Keep batches ClickHouse has not taken yet in this folder, and replay them when it answers, after a restart too.",
            valueName: "folder"))
    var spool: String?

    @Option(
        name: .customLong("clickhouse-spool-bytes"),
        help: ArgumentHelp("The spool's bound; past it the oldest batches are dropped, counted.", valueName: "size"))
    var spoolBytes = StoreOptions.defaultSpoolBytes
    static let defaultSpoolBytes = "1G"

    @Option(
        name: .customLong("clickhouse-drain"),
        help: ArgumentHelp(
            "Seconds at the end to deliver what is held before it is left in the spool.", valueName: "seconds"))
    var drainSeconds: Double = StoreSink.Settings().drainSeconds

    @Option(
        name: .customLong("clickhouse-sample"),
        help: ArgumentHelp(
            "Keep 1 in this many connections in the store, chosen by their endpoints; rows carry it as their weight (default 1: all).",
            valueName: "n"))
    var sampleEvery = 1

    func address() throws -> StoreAddress? {
        guard let clickhouse else {
            if access.given || spool != nil || sampleEvery != 1 {
                throw ValidationError(
                    "--clickhouse-credentials, --clickhouse-ca, --clickhouse-spool and --clickhouse-sample need --clickhouse")
            }
            return nil
        }
        return try access.address(clickhouse)
    }

    func sinkSettings() throws -> StoreSink.Settings {
        guard let bytes = ByteCount(spoolBytes), bytes >= 1 << 20 else {
            throw ValidationError("--clickhouse-spool-bytes takes a size of at least 1M (e.g. 512M, 4G), found \"\(spoolBytes)\"")
        }
        if spool == nil && spoolBytes != StoreOptions.defaultSpoolBytes {
            throw ValidationError("--clickhouse-spool-bytes needs --clickhouse-spool")
        }
        var settings = StoreSink.Settings()
        guard drainSeconds.isFinite, drainSeconds >= 0 else { throw ValidationError("--clickhouse-drain takes seconds, 0 or more") }
        settings.drainSeconds = drainSeconds
        guard (1...1_000_000).contains(sampleEvery) else { throw ValidationError("--clickhouse-sample takes a number from 1 to 1000000") }
        settings.sampleEvery = sampleEvery
        return settings
    }

    func openSpool() throws -> Spool? {
        guard let spool, let bytes = ByteCount(spoolBytes) else { return nil }  // the size is checked with the options
        do {
            return try Spool(folder: spool, limit: bytes)
        } catch {
            throw Failure(error.description)
        }
    }
}
