import CPrivileges
import Foundation

extension Thread {
    /// A thread that gives the system its name before running `body`, so that `top -H`,
    /// `ps -L` and /proc tell the sensor's threads apart (Foundation keeps the name to itself
    /// here). Linux keeps at most 15 bytes.
    public static func named(_ name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
        let thread = Thread {
            _ = synprint_set_thread_name(name)
            body()
        }
        thread.name = name
        return thread
    }
}
