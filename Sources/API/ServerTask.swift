import Dispatch
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A Hummingbird server run on a task of its own, for the API and the metrics listener: `start`
/// waits until it listens and returns the bound port, or throws what stopped it.
final class ServerTask: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// How starting ended, shared between the starting thread and the server's task.
    private final class Outcome: Sendable {
        let result = Mutex<Result<Int, Error>?>(nil)
    }

    /// A logger for the server that says only what is critical, on standard error.
    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .critical
        return logger
    }

    /// `application` builds the server with the callback it must run once it listens.
    func start<App: ApplicationProtocol>(
        failing failure: String, _ application: (@escaping @Sendable (any Channel) async -> Void) -> App
    ) throws -> Int {
        let ready = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        let app = application { channel in
            outcome.result.withLock { $0 = .success(channel.localAddress?.port ?? 0) }
            ready.signal()
        }
        task.withLock {
            $0 = Task.detached {
                do {
                    try await app.run()
                } catch {
                    outcome.result.withLock { if $0 == nil { $0 = .failure(error) } }
                    ready.signal()
                }
            }
        }
        ready.wait()
        switch outcome.result.withLock({ $0 })! {
        case .success(let port): return port
        case .failure(let error): throw APIError("\(failure): \(error)")
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
