import CPrivileges

#if canImport(Glibc)
import Glibc
#endif

/// Giving up root once everything privileged is open (the capture, sockets, outputs), as p0f's
/// `-u` and `-r` do: optionally chroot, then switch to the user's uid and gid with no
/// supplementary groups, and set no-new-privileges, so that nothing the process runs later can
/// gain privileges back. Switching uid from root clears every capability.
public enum Privileges {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// Why `user` (a name or a numeric uid) cannot be dropped to, checked before anything starts.
    public static func check(_ user: String) throws {
        guard getpwnam(user) ?? UInt32(user).flatMap({ getpwuid($0) }) != nil else {
            throw Failure(description: "-u \(user): no such user (tools/install.sh creates the synprint user)")
        }
    }

    /// Drops to `user` (a name or a numeric uid), after `chroot` to `directory` if given.
    public static func drop(to user: String, chroot directory: String?) throws {
        guard isRoot else { throw Failure(description: "-u needs synprint to start as root (it is running as uid \(geteuid()))") }
        guard let account = getpwnam(user) ?? UInt32(user).flatMap({ getpwuid($0) }) else {
            throw Failure(description: "-u \(user): no such user (tools/install.sh creates the synprint user)")
        }
        let uid = account.pointee.pw_uid, gid = account.pointee.pw_gid
        guard uid != 0 else { throw Failure(description: "-u \(user) is root; name an unprivileged user") }
        if let directory {
            guard chdir(directory) == 0, Glibc.chroot(directory) == 0, chdir("/") == 0 else {
                throw Failure(description: "cannot chroot to \(directory): \(String(cString: strerror(errno)))")
            }
        }
        var groups = [gid]
        guard setgroups(1, &groups) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw Failure(description: "cannot switch to \(user): \(String(cString: strerror(errno)))")
        }
        // A process that could get root back has not dropped it.
        guard setuid(0) != 0, geteuid() == uid else { throw Failure(description: "root privileges could not be dropped") }
        guard synprint_set_no_new_privileges() == 0 else {
            throw Failure(description: "cannot set no-new-privileges: \(String(cString: strerror(errno)))")
        }
    }
}
