import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file opened the way a daemon must: never through a symlink (`O_NOFOLLOW`), only a
/// regular file, a FIFO or a character device, created with mode 0600 (less whatever the umask
/// removes), appended to unless truncation was asked for, and truncated only once it is known
/// to be a regular file. Writes retry after signals; a failure is reported once on standard
/// error and counted, and the file is marked failed so that the run can end non-zero.
public final class OutputFile: Sendable {
    public enum Mode: Sendable { case append, truncate }

    /// What happened to the writes of one file.
    public struct WriteState: Sendable {
        public var failures = 0  // writes that failed
        public var droppedBytes = 0  // bytes that could not be written
        public var lastError: Int32 = 0
    }

    public let path: String
    private let mode: Mode
    private let header: String?
    private let descriptor: Mutex<(fd: Int32, generation: Int, state: WriteState)>
    private let ownsDescriptor: Bool

    /// Standard output.
    public init() {
        path = "standard output"
        mode = .append
        header = nil
        descriptor = Mutex((STDOUT_FILENO, ReopenSignal.generation, WriteState()))
        ownsDescriptor = false
    }

    /// `header` starts every new or empty file (the database header of an observation file).
    public init(path: String, mode: Mode = .append, header: String? = nil) throws {
        self.path = path
        self.mode = mode
        self.header = header
        descriptor = Mutex((try OutputFile.open(path, mode: mode, header: header), ReopenSignal.generation, WriteState()))
        ownsDescriptor = true
    }

    deinit {
        descriptor.withLock { if ownsDescriptor { close($0.fd) } }
    }

    public var state: WriteState { descriptor.withLock { $0.state } }
    public var failed: Bool { state.failures > 0 }

    static func open(_ path: String, mode: Mode, header: String?) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw OutputError("\(path) is a symbolic link; synprint does not write through links (name the target itself)")
            }
            throw OutputError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            throw OutputError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            if mode == .truncate { _ = ftruncate(fd, 0) }
            if var header, lseek(fd, 0, SEEK_END) == 0 {
                header += "\n"
                let written = header.withUTF8 { OutputFile.writeAll(fd, UnsafeRawBufferPointer($0)) }
                guard written == 0 else {
                    close(fd)
                    throw OutputError("cannot write \(path): \(String(cString: strerror(written)))")
                }
            }
        case S_IFIFO, S_IFCHR:
            break
        default:
            close(fd)
            throw OutputError("\(path) is not a regular file, a FIFO or a character device")
        }
        return fd
    }

    /// Writes `bytes` whole (a line, or a batch of whole lines), after reopening the path if a
    /// SIGHUP came since the last write.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        descriptor.withLock { current in
            let generation = ReopenSignal.generation
            if generation != current.generation, ownsDescriptor {
                current.generation = generation
                do {
                    let reopened = try OutputFile.open(path, mode: .append, header: header)
                    close(current.fd)
                    current.fd = reopened
                } catch {
                    printError("synprint: \(error); writing on to the file already open")
                }
            }
            let error = OutputFile.writeAll(current.fd, bytes)
            guard error != 0 else { return }
            if current.state.failures == 0 || error != current.state.lastError {
                printError("synprint: cannot write to \(path): \(String(cString: strerror(error)))")
            }
            current.state.failures += 1
            current.state.droppedBytes += bytes.count
            current.state.lastError = error
        }
    }

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Writes every byte, retrying after signals; returns 0 or the errno that stopped it.
    static func writeAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return 0
    }
}

public struct OutputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One line on standard error, in a single write so that lines from several threads never mix.
public func printError(_ text: String, terminator: String = "\n") {
    var line = text + terminator
    line.withUTF8 { _ = OutputFile.writeAll(STDERR_FILENO, UnsafeRawBufferPointer($0)) }
}
