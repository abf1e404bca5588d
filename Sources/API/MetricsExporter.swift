import CoreMetrics
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// One value to publish: a counter (only grows) or a gauge, with its labels.
public struct MetricValue: Sendable {
    public enum Kind: Sendable { case counter, gauge }
    public var name: String
    public var labels: [(String, String)]
    public var value: Double
    public var kind: Kind
    public var help: String

    /// Names carry their unit already (`synprint_request_head_bytes`).
    var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }

    public init(_ name: String, _ value: Double, _ kind: Kind, labels: [(String, String)] = [], help: String) {
        self.name = name
        self.value = value
        self.kind = kind
        self.labels = labels
        self.help = help
    }
}

/// The sensor's counters as Prometheus metrics (swift-prometheus), read when `/metrics` is
/// scraped: the capture thread and the output thread keep plain counters and publish snapshots,
/// and the exporter turns them into Prometheus counters and gauges here, so nothing on the
/// per-packet path touches a metric. swift-metrics is bootstrapped with the same registry, so
/// the API's request counts and latency histograms (Hummingbird's MetricsMiddleware) appear too.
public final class MetricsExporter: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let values: @Sendable () -> [MetricValue]
    private let published = Mutex<[String: (counter: Prometheus.Counter?, gauge: Prometheus.Gauge?, last: Double)]>([:])
    private static let bootstrapped = Mutex(false)

    public init(values: @escaping @Sendable () -> [MetricValue]) {
        self.values = values
        MetricsExporter.bootstrapped.withLock { done in
            guard !done else { return }
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            done = true
        }
    }

    /// The Prometheus text exposition of every metric, fresh.
    public func render() -> String {
        refresh()
        return registry.emitToString()
    }

    func refresh() {
        let current = values()
        published.withLock { published in
            for value in current {
                let key = value.name + value.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                var entry = published[key] ?? (nil, nil, 0)
                switch value.kind {
                case .counter:
                    let counter = entry.counter ?? registry.makeCounter(descriptor: value.descriptor, labels: value.labels)
                    // Counts are whole numbers: whole increments print as integers.
                    let step = value.value - entry.last
                    if step >= 1, step < 9.0e18 { counter.increment(by: Int64(step)) }
                    entry = (counter, nil, max(entry.last, value.value))
                case .gauge:
                    let gauge = entry.gauge ?? registry.makeGauge(descriptor: value.descriptor, labels: value.labels)
                    gauge.set(to: value.value)
                    entry = (nil, gauge, value.value)
                }
                published[key] = entry
            }
        }
    }

    static func response(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// `--metrics HOST:PORT`: `/metrics` on its own listener (loopback by default).
public final class MetricsServer: Sendable {
    let exporter: MetricsExporter
    let address: APIServer.Settings
    private let server = ServerTask()
    private let connections = ConnectionCount()

    public init(exporter: MetricsExporter, address: APIServer.Settings) {
        self.exporter = exporter
        self.address = address
    }

    /// Starts listening; returns the bound port.
    public func start() throws -> Int {
        let router = Router()
        router.add(middleware: JSONErrors())
        router.get("/metrics") { _, _ in MetricsExporter.response(self.exporter.render()) }
        let connections = self.connections, address = self.address
        return try server.start(failing: "cannot serve metrics on \(address.host):\(address.port)") { onRunning in
            Application(
                router: router,
                server: .http1(
                    configuration: .init(
                        additionalChannelHandlers: [
                            ConnectionLimit(count: connections, limit: address.maxConnections),
                            RequestDeadline(limit: .seconds(Int64(address.requestTimeout))),
                        ], idleTimeout: .seconds(Int64(address.idleTimeout)))),
                configuration: .init(address: .hostname(address.host, port: address.port), serverName: "synprint"),
                onServerRunning: onRunning, logger: ServerTask.logger("synprint.metrics"))
        }
    }

    public func stop() {
        server.stop()
    }
}
