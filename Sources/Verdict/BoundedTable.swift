/// A hash table with a fixed capacity for per-flow and per-host state. Slots are reused in
/// insertion order, so under a flood the oldest entry goes first and memory never grows past
/// `capacity` entries. Lookups and inserts are O(1); storage grows with use up to the cap.
public struct BoundedTable<Key: Hashable, Value> {
    // Inlinable so that users in other modules get it specialized for their types (no
    // generic metadata lookups per packet).
    @usableFromInline var index: [Key: Int] = [:]
    @usableFromInline var slots: [(key: Key, value: Value)?] = []
    @usableFromInline var next = 0
    public let capacity: Int

    @inlinable
    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    @inlinable
    public var count: Int { index.count }

    @inlinable
    public func slot(of key: Key) -> Int? { index[key] }

    @inlinable
    public subscript(slot slot: Int) -> Value {
        get { slots[slot]!.value }
        set { slots[slot]!.value = newValue }
    }

    /// Mutates a value in place (no copy of what it owns).
    @inlinable
    public mutating func update<R>(slot: Int, _ body: (inout Value) -> R) -> R {
        body(&slots[slot]!.value)
    }

    @inlinable
    public subscript(key: Key) -> Value? {
        index[key].map { slots[$0]!.value }
    }

    /// Stores `value` under `key` (replacing it in place when present) and returns the entry
    /// pushed out to make room, if any.
    @inlinable
    @discardableResult
    public mutating func insert(_ value: Value, for key: Key) -> (key: Key, value: Value)? {
        place(value, for: key).evicted
    }

    /// `insert`, also saying which slot the value went to (slots index side storage).
    @inlinable
    public mutating func place(_ value: Value, for key: Key) -> (slot: Int, evicted: (key: Key, value: Value)?) {
        if let slot = index[key] {
            slots[slot]!.value = value
            return (slot, nil)
        }
        if slots.count < capacity {
            index[key] = slots.count
            slots.append((key, value))
            return (slots.count - 1, nil)
        }
        let slot = next
        next = (next + 1) % capacity
        let evicted = slots[slot]
        if let evicted { index[evicted.key] = nil }
        slots[slot] = (key, value)
        index[key] = slot
        return (slot, evicted)
    }

    @inlinable
    public mutating func remove(_ key: Key) {
        guard let slot = index.removeValue(forKey: key) else { return }
        slots[slot] = nil
    }

    /// Every live entry, in slot order.
    @inlinable
    public func forEach(_ body: (Key, Value) -> Void) {
        for case let entry? in slots { body(entry.key, entry.value) }
    }
}
