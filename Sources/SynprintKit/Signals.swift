import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT/SIGTERM ask capture loops to stop between packets, so that everything read is
/// written and counted before exit. A second signal ends the process at once (as p0f does),
/// for when the first cannot be honoured, e.g. output blocked on a stalled pipe.
public enum StopSignal {
    private static let received = Atomic<Int>(0)

    public static var requested: Bool { received.load(ordering: .relaxed) > 0 }

    public static func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number) { number in
                if StopSignal.received.add(1, ordering: .relaxed).newValue > 1 { _exit(128 + number) }
            }
        }
    }
}

/// SIGHUP asks every log to reopen its file (after logrotate renamed it). Each log keeps the
/// generation it opened at and reopens when the count has moved, so one signal reaches every
/// log, whichever writes first.
public enum ReopenSignal {
    private static let received = Atomic<Int>(0)

    public static var generation: Int { received.load(ordering: .relaxed) }

    public static func install() {
        signal(SIGHUP) { _ in ReopenSignal.received.add(1, ordering: .relaxed) }
    }
}
