import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file opened the way a daemon must: never through a symlink (`O_NOFOLLOW`), only a
/// regular file, a FIFO or a character device, created with mode 0600 (or 0666 less `--umask`),
/// appended to unless truncation was asked for, and truncated only once it is known to be a
/// regular file. SIGHUP reopens the path. Writes retry after signals; a failure is reported once
/// on standard error and counted, so that the run can end non-zero.
///
/// Lines stay whole: bytes are handed over in whole lines, and to a pipe in writes of at most
/// `PIPE_BUF` bytes (which a pipe takes whole or not at all); a line a full disk broke off is
/// cut from a regular file, so the next write starts a line. Once a stop was asked for, a write
/// waits at most `stopGrace` seconds for a stalled reader; after that the file is abandoned and
/// what is left is counted as dropped, so that a blocked output cannot hold the exit.
public final class OutputFile: Sendable {
    public enum Mode: Sendable { case append, truncate }

    /// What happened to the writes of one file.
    public struct WriteState: Sendable {
        public var failures = 0  // writes that failed
        public var droppedBytes = 0  // bytes that could not be written
        public var droppedLines = 0  // lines (events) whose end could not be written
        public var lastError: Int32 = 0
        public var abandoned = false  // stopped while the reader stalled

        mutating func drop(_ bytes: UnsafeRawBufferPointer) {
            droppedBytes += bytes.count
            droppedLines += bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        }
    }

    /// Permission bits for files synprint creates: 0600 unless `--umask` says otherwise.
    public static let creationMode = Atomic<UInt32>(0o600)
    /// Seconds a write may wait for a stalled reader once a stop was asked for.
    public static let stopGrace = 2.0

    public let path: String
    private let header: String?
    private let descriptor: Mutex<(fd: Int32, generation: Int)>
    /// Apart from `descriptor`, which a write holds while it waits for a stalled reader: the
    /// metrics read this, and must not wait with it (they would hold the API's threads).
    private let written = Mutex(WriteState())
    private let ownsDescriptor: Bool
    /// A FIFO or pipe: written in whole-line chunks of at most `PIPE_BUF` bytes.
    private let isPipe: Bool
    /// A pipe or device whose reader may stall: each write waits for room in short polls, so a
    /// stop is noticed (the signal goes to the capture thread, not to a writer blocked here).
    private let mayStall: Bool

    /// Standard output.
    public init() {
        path = "standard output"
        header = nil
        descriptor = Mutex((STDOUT_FILENO, ReopenSignal.generation))
        ownsDescriptor = false
        isPipe = OutputFile.isPipe(STDOUT_FILENO)
        mayStall = !OutputFile.isRegular(STDOUT_FILENO)
    }

    /// `header` starts every new or empty file (the database header of an observation file).
    public init(path: String, mode: Mode = .append, header: String? = nil) throws {
        self.path = path
        self.header = header
        let fd = try OutputFile.open(path, mode: mode, header: header)
        descriptor = Mutex((fd, ReopenSignal.generation))
        ownsDescriptor = true
        isPipe = OutputFile.isPipe(fd)
        mayStall = !OutputFile.isRegular(fd)
    }

    deinit {
        descriptor.withLock { if ownsDescriptor { close($0.fd) } }
    }

    public var state: WriteState { written.withLock { $0 } }
    public var failed: Bool { state.failures > 0 }

    static func isPipe(_ fd: Int32) -> Bool {
        var status = stat()
        return fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO
    }

    static func isRegular(_ fd: Int32) -> Bool {
        var status = stat()
        return fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    static func open(_ path: String, mode: Mode, header: String?) throws -> Int32 {
        let permissions = mode_t(creationMode.load(ordering: .relaxed))
        // Not blocking, so that a FIFO nobody reads yet cannot hold the thread in open(2) past a
        // stop: wait for its reader in short polls instead, as a blocking open would.
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC
        var fd = Glibc.open(path, flags | O_NONBLOCK, permissions)
        while fd < 0 && errno == ENXIO && !StopSignal.requested {
            usleep(100_000)
            fd = Glibc.open(path, flags | O_NONBLOCK, permissions)
        }
        if fd < 0 && errno == ENXIO { throw OutputError("\(path) is a FIFO that no one reads") }
        if fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
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

    /// Writes `bytes` (whole lines), after reopening the path if a SIGHUP came since the last write.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        descriptor.withLock { current in
            let abandoned = written.withLock { state in
                if state.abandoned { state.drop(bytes) }
                return state.abandoned
            }
            if abandoned { return }
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
            // Where this write begins in a regular file, to cut a line that a full disk broke off.
            let start = mayStall ? -1 : lseek(current.fd, 0, SEEK_END)
            var offset = 0
            while offset < bytes.count {
                let chunk = isPipe ? OutputFile.pipeChunk(bytes, from: offset) : bytes.count - offset
                let error = OutputFile.writeAll(
                    current.fd, UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + chunk]),
                    waitingForRoom: mayStall)
                if error != 0 {
                    if start >= 0 { offset = OutputFile.cutBrokenLine(current.fd, bytes, from: Int(start)) }
                    let line = written.withLock { state in
                        state.drop(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                        return count(error, &state)
                    }
                    if let line { printError(line) }
                    return
                }
                offset += chunk
            }
        }
    }

    /// After a failed write of `bytes` that began at `start` of a regular file: cuts the file
    /// back to the end of the last whole line written, so that the next write does not continue
    /// a broken one; returns how many of `bytes` stay written.
    static func cutBrokenLine(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let end = lseek(fd, 0, SEEK_END)
        let written = min(max(Int(end) - start, 0), bytes.count)
        var kept = written
        while kept > 0 && bytes[kept - 1] != 0x0A { kept -= 1 }
        if kept < written { _ = ftruncate(fd, off_t(start + kept)) }
        return kept
    }

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Counts a failed write; the line to print (once per kind of error), if any.
    private func count(_ error: Int32, _ state: inout WriteState) -> String? {
        var line: String?
        if error == ETIMEDOUT {
            state.abandoned = true
            line = "synprint: \(path) is not being read; stopping without writing the rest"
        } else if state.failures == 0 || error != state.lastError {
            line = "synprint: cannot write to \(path): \(String(cString: strerror(error)))"
        }
        state.failures += 1
        state.lastError = error
        return line
    }

    /// The longest run of whole lines from `offset` that fits in `PIPE_BUF`; a longer single
    /// line goes alone.
    static func pipeChunk(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Int {
        let limit = min(bytes.count - offset, Int(PIPE_BUF))
        if limit == bytes.count - offset { return limit }
        var end = offset + limit
        while end > offset, bytes[end - 1] != 0x0A { end -= 1 }
        if end > offset { return end - offset }
        var lineEnd = offset + limit
        while lineEnd < bytes.count, bytes[lineEnd - 1] != 0x0A { lineEnd += 1 }
        return lineEnd - offset
    }

    /// Writes every byte, retrying after signals; returns 0 or the errno that stopped it
    /// (`ETIMEDOUT` when a stop was asked for and the reader stalled past `stopGrace`). With
    /// `waitingForRoom`, each write first waits until the descriptor takes data, in polls of
    /// 100 ms that look at the stop flag.
    static func writeAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer, waitingForRoom: Bool = false) -> Int32 {
        var offset = 0
        var deadline: Double?
        while offset < raw.count {
            if waitingForRoom || StopSignal.requested {
                if StopSignal.requested {
                    let now = monotonicSeconds()
                    let end = deadline ?? now + stopGrace
                    deadline = end
                    guard now < end else { return ETIMEDOUT }
                }
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                let result = poll(&ready, 1, 100)
                if result == 0 || (result < 0 && errno == EINTR) { continue }
            }
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

/// Seconds on the monotonic clock.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
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
