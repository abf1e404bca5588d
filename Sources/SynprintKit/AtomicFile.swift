#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole file or nothing: the text goes to a new temporary file beside the target
/// (created exclusively, mode 0600 less the umask setting), is synced, and is renamed over the
/// target. A failed or interrupted run leaves the old file as it was. A pipe or a device
/// (`/dev/stdout`) is written to as it is, never replaced; a symbolic link or a folder at the
/// target is refused.
public enum AtomicFile {
    public static func write(_ text: String, to path: String) throws {
        if StopSignal.requested { throw OutputError("interrupted; \(path) was left as it was") }
        var info = stat()
        if lstat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFCHR, S_IFIFO: return try writeThrough(text, to: path)
            case S_IFLNK: throw OutputError("\(path) is a symbolic link; it was left as it was")
            default: throw OutputError("\(path) is not a file; it was left as it was")
            }
        }
        let temporary = "\(path).tmp-\(getpid())"
        let permissions = mode_t(OutputFile.creationMode.load(ordering: .relaxed))
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw OutputError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var text = text
        var error = text.withUTF8 { OutputFile.writeAll(fd, UnsafeRawBufferPointer($0)) }
        if error == 0, fsync(fd) != 0 { error = errno }
        close(fd)
        if error == 0, StopSignal.requested { error = EINTR }
        if error == 0, rename(temporary, path) != 0 { error = errno }
        guard error == 0 else {
            unlink(temporary)
            if error == EINTR { throw OutputError("interrupted; \(path) was left as it was") }
            throw OutputError("cannot write \(path): \(String(cString: strerror(error))); it was left as it was")
        }
    }

    /// A pipe or device: the text is written to it, as `-o` would.
    private static func writeThrough(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var text = text
        let error = text.withUTF8 { OutputFile.writeAll(fd, UnsafeRawBufferPointer($0)) }
        guard error == 0 else { throw OutputError("cannot write \(path): \(String(cString: strerror(error)))") }
    }
}
