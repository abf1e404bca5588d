import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a batch's rows are encoded; the spool's file names end in it.
public enum StoreFormat: String, Sendable {
    /// What the sink writes (`StoreRows`).
    case rowBinary = "rowbinary"
    /// What earlier releases wrote: a spool they left behind is still replayed.
    case jsonEachRow = "jsonl"
}

/// One batch of rows for one table, in memory or in the spool.
public struct StoreBatch: Sendable {
    /// Increasing over the sensor's life (across restarts, through the spool's names): the
    /// order batches are delivered in.
    public var sequence: UInt64
    public var table: String
    public var rows: Int
    public var bytes: [UInt8]
    public var format: StoreFormat

    public init(sequence: UInt64, table: String, rows: Int, bytes: [UInt8], format: StoreFormat = .rowBinary) {
        self.sequence = sequence
        self.table = table
        self.rows = rows
        self.bytes = bytes
        self.format = format
    }
}

/// A folder of batches that could not be delivered yet (`--clickhouse-spool`), bounded in
/// bytes. Each batch is one file, `SEQUENCE.TABLE.ROWS.FORMAT`, written to a temporary name and
/// renamed, so a crash leaves it whole or absent; files are replayed in sequence order, and
/// when the bound is reached the oldest go first, counted. Batches ClickHouse refused as
/// malformed go to `rejected/` with the error beside them.
///
/// The batches written last are also held in memory (`holding` bytes of them), so that the
/// sender, which takes a batch moments after it was written while ClickHouse keeps up, does
/// not read it back from disk and copy it twice more.
///
/// Thread-safe: the sink's thread and the output thread both spool.
public final class Spool: Sendable {
    public let folder: String
    public let limit: Int
    /// Bytes of the latest batches held in memory besides their files.
    public let holding: Int
    private struct State {
        var files: [(sequence: UInt64, name: String, table: String, rows: Int, bytes: Int, format: StoreFormat)] = []
        var bytes = 0
        var droppedRows = 0
        var droppedBatches = 0
        var rejectedBatches = 0
        var failures = 0
        var lastFailure: String?
        /// Batches written and still in memory, by sequence, and their bytes.
        var held: [UInt64: [UInt8]] = [:]
        var heldBytes = 0

        mutating func forget(_ sequence: UInt64) {
            if let bytes = held.removeValue(forKey: sequence) { heldBytes -= bytes.count }
        }
    }
    private let state = Mutex(State())

    /// Opens (creating it, mode 0700) `folder`, reads what an earlier run left, and removes
    /// temporary files a crash left behind. The folder must not be a symbolic link.
    public init(folder: String, limit: Int, holding: Int = 16 << 20) throws(StoreError) {
        self.folder = folder
        self.limit = limit
        self.holding = holding
        for path in [folder, folder + "/rejected"] {
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw .address("\(path): cannot create the spool folder: \(String(cString: strerror(errno)))")
            }
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw .address("\(path): the spool must be a folder, not a link or a file")
            }
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw .address("\(folder): cannot read the spool folder")
        }
        var files: [(UInt64, String, String, Int, Int, StoreFormat)] = []
        for name in names {
            if name.hasPrefix(".tmp-") {
                unlink(folder + "/" + name)
                continue
            }
            guard let parsed = Spool.parse(name) else { continue }
            var info = stat()
            guard lstat(folder + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= Spool.largestBatch
            else { continue }
            files.append((parsed.sequence, name, parsed.table, parsed.rows, Int(info.st_size), parsed.format))
        }
        files.sort { $0.0 < $1.0 }
        state.withLock { state in
            state.files = files.map { (sequence: $0.0, name: $0.1, table: $0.2, rows: $0.3, bytes: $0.4, format: $0.5) }
            state.bytes = files.reduce(0) { $0 + $1.4 }
        }
    }

    /// Files the spool did not write are left alone: other names, and batch names whose
    /// numbers or size are beyond what a sink writes (sequences below 2^62, a batch's rows and
    /// bytes far below these bounds), so that counting what the spool holds cannot overflow.
    static let largestBatch = 1 << 30
    static let mostRows = 1 << 31
    static let lastSequence: UInt64 = 1 << 62

    static func parse(_ name: String) -> (sequence: UInt64, table: String, rows: Int, format: StoreFormat)? {
        let parts = name.split(separator: ".")
        guard parts.count == 4, let format = StoreFormat(rawValue: String(parts[3])), let sequence = UInt64(parts[0]),
            sequence < lastSequence, let rows = Int(parts[2]), (0...mostRows).contains(rows),
            parts[1].allSatisfy({ $0.isLetter || $0 == "_" })
        else { return nil }
        return (sequence, String(parts[1]), rows, format)
    }

    static func name(_ batch: StoreBatch) -> String {
        let digits = String(batch.sequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".\(batch.table).\(batch.rows).\(batch.format.rawValue)"
    }

    /// The next sequence after what the spool holds: a restarted sensor goes on after its spool.
    public var nextSequence: UInt64 { state.withLock { ($0.files.last?.sequence ?? 0) + 1 } }
    public var isEmpty: Bool { state.withLock { $0.files.isEmpty } }
    public var batches: Int { state.withLock { $0.files.count } }
    public var bytes: Int { state.withLock { $0.bytes } }
    public var rows: Int { state.withLock { $0.files.reduce(0) { $0 + $1.rows } } }
    public var droppedRows: Int { state.withLock { $0.droppedRows } }
    public var droppedBatches: Int { state.withLock { $0.droppedBatches } }
    public var rejectedBatches: Int { state.withLock { $0.rejectedBatches } }
    /// Batches that could not be written to the spool (a full disk): dropped, counted.
    public var failures: Int { state.withLock { $0.failures } }
    /// Why the latest batch could not be written.
    public var lastFailure: String? { state.withLock { $0.lastFailure } }

    /// Writes a batch whole, pushing out the oldest batches when the bound is reached; false
    /// (counted as dropped) when it cannot be written, or is larger than the bound by itself.
    @discardableResult
    public func add(_ batch: StoreBatch) -> Bool {
        let name = Spool.name(batch)
        return state.withLock { state in
            guard batch.bytes.count <= limit else {
                state.droppedRows += batch.rows
                state.droppedBatches += 1
                return false
            }
            while state.bytes + batch.bytes.count > limit, let oldest = state.files.first {
                unlink(folder + "/" + oldest.name)
                state.forget(oldest.sequence)
                state.files.removeFirst()
                state.bytes -= oldest.bytes
                state.droppedRows += oldest.rows
                state.droppedBatches += 1
            }
            let error = write(batch.bytes, to: folder + "/" + name)
            guard error == 0 else {
                // One line when the reason changes (a full disk fails every batch alike).
                let reason = "cannot write to the spool \(folder): \(String(cString: strerror(error)))"
                if reason != state.lastFailure {
                    FileHandle.standardError.write(Data("synprint: \(reason); its batches are dropped, counted\n".utf8))
                }
                state.lastFailure = reason
                state.failures += 1
                state.droppedRows += batch.rows
                state.droppedBatches += 1
                return false
            }
            // Usually the newest; a batch that failed in flight is older than what was spooled meanwhile.
            let index = state.files.firstIndex { $0.sequence > batch.sequence } ?? state.files.endIndex
            state.files.insert((batch.sequence, name, batch.table, batch.rows, batch.bytes.count, batch.format), at: index)
            state.bytes += batch.bytes.count
            if state.heldBytes + batch.bytes.count <= holding {
                state.held[batch.sequence] = batch.bytes
                state.heldBytes += batch.bytes.count
            }
            return true
        }
    }

    /// The oldest batch, from memory or read back (nil when the spool is empty). A file that
    /// cannot be read is dropped, counted.
    public func oldest() -> StoreBatch? {
        state.withLock { state in
            while let first = state.files.first {
                if let bytes = state.held[first.sequence] {
                    return StoreBatch(sequence: first.sequence, table: first.table, rows: first.rows, bytes: bytes, format: first.format)
                }
                if let data = FileManager.default.contents(atPath: folder + "/" + first.name) {
                    return StoreBatch(
                        sequence: first.sequence, table: first.table, rows: first.rows, bytes: [UInt8](data), format: first.format)
                }
                state.files.removeFirst()
                state.bytes -= first.bytes
                state.droppedRows += first.rows
                state.droppedBatches += 1
            }
            return nil
        }
    }

    /// The batch was delivered (or rejected): its file goes.
    public func remove(_ sequence: UInt64) {
        state.withLock { state in
            state.forget(sequence)
            guard let index = state.files.firstIndex(where: { $0.sequence == sequence }) else { return }
            let file = state.files.remove(at: index)
            unlink(folder + "/" + file.name)
            state.bytes -= file.bytes
        }
    }

    /// Keeps a batch ClickHouse refused as malformed in `rejected/`, with the error in
    /// `NAME.error`, out of the delivery order.
    public func reject(_ batch: StoreBatch, error: String) {
        let name = Spool.name(batch)
        state.withLock { state in
            state.forget(batch.sequence)
            state.rejectedBatches += 1
            if let index = state.files.firstIndex(where: { $0.sequence == batch.sequence }) {
                let file = state.files.remove(at: index)
                state.bytes -= file.bytes
                rename(folder + "/" + file.name, folder + "/rejected/" + name)
            } else {
                _ = write(batch.bytes, to: folder + "/rejected/" + name)
            }
            _ = write(Array((error + "\n").utf8), to: folder + "/rejected/" + name + ".error")
        }
    }

    /// Writes a batch's file whole or not at all (a temporary file in the same folder, synced,
    /// then renamed): 0, or the errno that stopped it.
    private func write(_ bytes: [UInt8], to path: String) -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/.tmp-" + (path as NSString).lastPathComponent
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        var written = 0
        let error = bytes.withUnsafeBytes { raw -> Int32 in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return fsync(fd) == 0 ? 0 : errno
        }
        close(fd)
        let renamed = error == 0 ? (rename(temporary, path) == 0 ? 0 : errno) : error
        if renamed != 0 { unlink(temporary) }
        return renamed
    }
}
