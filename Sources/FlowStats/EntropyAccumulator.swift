import Tables

/// The entropy half of the flow statistics, run on the thread that writes the events: payload
/// samples of open windows are tallied here by window, and merged into each window when it is
/// handed over. Bounded like the windows it serves; a window pushed out early only loses its
/// entropy figures. Unchecked Sendable: one thread uses it at a time (the output thread).
public final class EntropyAccumulator: @unchecked Sendable {
    struct Tallies {
        var up = EntropyTally()
        var down = EntropyTally()
    }

    /// Room for two entries per client: the table reuses slots in insertion order, and twice
    /// the client table's capacity outlasts the windows it serves.
    public static let bytesPerWindow = 2 * BoundedTable<UInt32, Tallies>.bytesPerEntry
    private var windows: BoundedTable<UInt32, Tallies>
    /// Windows whose tallies were pushed out before the window was written.
    public private(set) var evicted = 0

    /// `clients`: the client table's capacity; each open window has one entry at most.
    public init(clients: Int) {
        windows = BoundedTable(capacity: 2 * max(clients, 1))
    }

    public func perform(_ work: FlowStatistics.EntropyWork) {
        switch work {
        case .sample(let window, let upstream, let payload):
            let slot = windows.slot(of: window) ?? windows.place(Tallies(), for: window) { _, _ in evicted += 1 }
            windows.update(slot: slot) { t in
                if upstream { t.up.add(payload) } else { t.down.add(payload) }
            }
        case .discard(let window):
            windows.remove(window)
        }
    }

    /// Adds the window's tallies to it, and forgets them.
    public func complete(_ window: inout FlowWindow) {
        guard let slot = windows.slot(of: window.id) else { return }
        let tallies = windows[slot: slot]
        window.up.entropy.merge(tallies.up)
        window.down.entropy.merge(tallies.down)
        windows.remove(window.id)
    }
}
