#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT/SIGTERM set a flag that capture loops poll, so they stop between packets and
/// everything already read is written and counted before exit.
public enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    public static var requested: Bool { flag != 0 }

    public static func install() {
        signal(SIGINT) { _ in StopSignal.flag = 1 }
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
    }
}

/// SIGHUP asks for the alert log to be reopened (after logrotate renamed it); the writer
/// checks the flag before each line, so no line goes to the renamed file after the signal.
public enum ReopenSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    public static func install() {
        signal(SIGHUP) { _ in ReopenSignal.flag = 1 }
    }

    /// True once per signal.
    public static func take() -> Bool {
        guard flag != 0 else { return false }
        flag = 0
        return true
    }
}
