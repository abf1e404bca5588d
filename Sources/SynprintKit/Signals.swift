import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT/SIGTERM ask capture loops to stop between packets, so that everything read is
/// written and counted before exit. A second signal ends the process at once (as p0f does),
/// for when the first cannot be honoured. The handlers are installed without `SA_RESTART`, so
/// a read from a stalled pipe (`-r -`) or a write to a blocked output returns at the signal
/// instead of waiting on.
public enum StopSignal {
    private static let received = Atomic<Int>(0)

    public static var requested: Bool { received.load(ordering: .relaxed) > 0 }
    /// The signal that asked to stop (for the exit status), or 0.
    public static var number: Int32 { Int32(truncatingIfNeeded: lastNumber.load(ordering: .relaxed)) }
    private static let lastNumber = Atomic<Int>(0)

    public static func install() {
        for number in [SIGINT, SIGTERM] {
            Signals.handle(number, restart: false) { number in
                StopSignal.lastNumber.store(Int(number), ordering: .relaxed)
                if StopSignal.received.add(1, ordering: .relaxed).newValue > 1 { _exit(128 + number) }
            }
        }
    }
}

/// SIGHUP asks every output to reopen its file (after logrotate renamed it). Each output keeps
/// the generation it opened at and reopens when the count has moved, so one signal reaches every
/// output, whichever writes first. A SIGHUP never ends the process.
public enum ReopenSignal {
    private static let received = Atomic<Int>(0)

    public static var generation: Int { received.load(ordering: .relaxed) }

    public static func install() {
        Signals.handle(SIGHUP, restart: true) { _ in ReopenSignal.received.add(1, ordering: .relaxed) }
    }
}

public enum Signals {
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Keeps the stop and reopen signals away from threads started from now on (they inherit
    /// the mask), so that they reach the capture thread and interrupt its reads; `unblock`
    /// afterwards on the capture thread.
    public static func block() { mask(SIG_BLOCK) }
    public static func unblock() { mask(SIG_UNBLOCK) }

    private static func mask(_ how: Int32) {
        var set = sigset_t()
        sigemptyset(&set)
        for number in handled { sigaddset(&set, number) }
        pthread_sigmask(how, &set, nil)
    }

    /// Installs `handler` for `number`, and ignores SIGPIPE (a closed pipe is a write error,
    /// reported as such, not a reason to die). Without `restart` a blocked read or write returns
    /// at the signal (stops must interrupt a stalled pipe); with it, it goes on (a SIGHUP must not).
    static func handle(_ number: Int32, restart: Bool, _ handler: @convention(c) (Int32) -> Void) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = restart ? SA_RESTART : 0
        sigaction(number, &action, nil)
        signal(SIGPIPE, SIG_IGN)
    }
}
