/// A hash table with a fixed capacity for per-flow and per-host state. A removed entry's slot
/// is used again first; only a table whose every slot is live pushes an entry out, the oldest
/// inserted, so under a flood the oldest entry goes first, a long-lived entry stays while others
/// come and go, and memory never grows past `capacity` entries (nor past the most entries live
/// at once). Lookups, inserts and removals are O(1).
///
/// An entry its owner knows to matter (a client that answered, which a spoofed source cannot)
/// can be kept (`keep`): kept entries are pushed out only when no other is left. At most
/// `keptLimit` are kept, the oldest kept going back among the others past it, so that a
/// quarter of the table always takes new entries.
public struct BoundedTable<Key: Hashable, Value> {
    // Inlinable so that users in other modules get it specialized for their types (no
    // generic metadata lookups per packet).
    @usableFromInline var index: [Key: Int] = [:]
    /// The key of each slot; nil for a removed entry, whose value stays until the slot is reused.
    @usableFromInline var keys: [Key?] = []
    /// Values apart from keys and not optional, so that `update` changes one in place: an
    /// optional tuple made the per-packet updates copy the whole record out and back (perf).
    @usableFromInline var values: [Value] = []
    /// Live slots in insertion order, as a list linked through each slot's older and newer
    /// neighbour (-1: none), so that the oldest is found, and any entry unlinked, in O(1).
    @usableFromInline var older: [Int32] = []
    @usableFromInline var newer: [Int32] = []
    @usableFromInline var oldest: Int32 = -1
    @usableFromInline var newest: Int32 = -1
    /// The kept entries, in the order they were kept, as a second list through the same links.
    @usableFromInline var keptOldest: Int32 = -1
    @usableFromInline var keptNewest: Int32 = -1
    @usableFromInline var isKept: [Bool] = []
    @usableFromInline var kept = 0
    public var keptCount: Int { kept }
    public let keptLimit: Int
    /// Slots of removed entries, used again before the table grows or pushes an entry out.
    @usableFromInline var free: [Int32] = []
    public let capacity: Int

    @inlinable
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max))
        self.capacity = capacity
        keptLimit = capacity - capacity / 4
        // Room up front (see `place` for the index's): growing copied every value at each
        // doubling. Pages are touched only as entries arrive; a very large table still grows,
        // so that a large capacity asks the system for no memory it may not have.
        let room = Swift.min(capacity, BoundedTable.reserved)
        index.reserveCapacity(2 * room)
        keys.reserveCapacity(room)
        values.reserveCapacity(room)
        older.reserveCapacity(room)
        newer.reserveCapacity(room)
        isKept.reserveCapacity(room)
    }

    /// Entries reserved at the start, at most.
    public static var reserved: Int { 1 << 17 }

    @inlinable
    public var count: Int { index.count }

    /// Memory per entry of a full table: the value, its slot's key and links, a free slot's
    /// number, and the index with room for twice the capacity (see `place`).
    public static var bytesPerEntry: Int {
        MemoryLayout<Value>.stride + MemoryLayout<Key?>.stride + 3 * MemoryLayout<Int32>.stride + MemoryLayout<Bool>.stride
            + 3 * (MemoryLayout<Key>.stride + MemoryLayout<Int>.stride)
    }

    @inlinable
    public func slot(of key: Key) -> Int? { index[key] }

    @inlinable
    public subscript(slot slot: Int) -> Value {
        get { values[slot] }
        set { values[slot] = newValue }
    }

    /// Mutates a value in place (no copy of what it owns).
    @inlinable
    public mutating func update<R>(slot: Int, _ body: (inout Value) -> R) -> R {
        body(&values[slot])
    }

    @inlinable
    public subscript(key: Key) -> Value? {
        index[key].map { values[$0] }
    }

    /// Stores `value` under `key` (replacing it in place when present) and returns the entry
    /// pushed out to make room, if any.
    @inlinable
    @discardableResult
    public mutating func insert(_ value: Value, for key: Key) -> (key: Key, value: Value)? {
        var pushed: (key: Key, value: Value)?
        place(value, for: key) { pushed = ($0, $1) }
        return pushed
    }

    /// `insert` that says which slot the value went to (slots index side storage) and shows an
    /// entry pushed out to `evicted` in place, without copying it out.
    @inlinable
    @discardableResult
    public mutating func place(_ value: Value, for key: Key, evicted: (Key, Value) -> Void = { _, _ in }) -> Int {
        if let slot = index[key] {
            values[slot] = value
            return slot
        }
        let slot: Int
        if let reused = free.popLast() {
            slot = Int(reused)
            keys[slot] = key
            values[slot] = value
        } else if keys.count < capacity {
            slot = keys.count
            keys.append(key)
            values.append(value)
            older.append(-1)
            newer.append(-1)
            isKept.append(false)
        } else {
            // Every slot live: every insert now evicts. Removing a key from a Dictionary near its
            // highest load shifts long runs of entries and hashes each again (perf: 3,000
            // instructions per eviction); room for twice the capacity keeps the runs short.
            if index.capacity < 2 * capacity { index.reserveCapacity(2 * capacity) }
            slot = Int(oldest >= 0 ? oldest : keptOldest)
            if let old = keys[slot] {
                index[old] = nil
                evicted(old, values[slot])
            }
            unlink(slot)
            keys[slot] = key
            values[slot] = value
        }
        index[key] = slot
        link(slot)
        return slot
    }

    /// Marks a live entry as one that matters: pushed out only when no unkept entry is left.
    @inlinable
    public mutating func keep(slot: Int) {
        guard !isKept[slot] else { return }
        unlink(slot)
        if kept >= keptLimit, keptOldest >= 0 {
            let returned = Int(keptOldest)
            unlink(returned)
            link(returned)
        }
        isKept[slot] = true
        older[slot] = keptNewest
        newer[slot] = -1
        if keptNewest >= 0 { newer[Int(keptNewest)] = Int32(slot) } else { keptOldest = Int32(slot) }
        keptNewest = Int32(slot)
        kept += 1
    }

    /// Puts a slot last in the list of unkept entries.
    @inlinable
    mutating func link(_ slot: Int) {
        isKept[slot] = false
        older[slot] = newest
        newer[slot] = -1
        if newest >= 0 { newer[Int(newest)] = Int32(slot) } else { oldest = Int32(slot) }
        newest = Int32(slot)
    }

    @inlinable
    mutating func unlink(_ slot: Int) {
        let before = older[slot], after = newer[slot]
        if isKept[slot] {
            if before >= 0 { newer[Int(before)] = after } else { keptOldest = after }
            if after >= 0 { older[Int(after)] = before } else { keptNewest = before }
            kept -= 1
        } else {
            if before >= 0 { newer[Int(before)] = after } else { oldest = after }
            if after >= 0 { older[Int(after)] = before } else { newest = before }
        }
    }

    /// Forgets `key`. Its value stays in the slot until the slot is reused: empty what a value
    /// owns (buffers) before removing it.
    @inlinable
    public mutating func remove(_ key: Key) {
        guard let slot = index.removeValue(forKey: key) else { return }
        keys[slot] = nil
        unlink(slot)
        free.append(Int32(slot))
    }

    /// Every live entry, in slot order.
    @inlinable
    public func forEach(_ body: (Key, Value) -> Void) {
        for (slot, key) in keys.enumerated() {
            if let key { body(key, values[slot]) }
        }
    }
}
