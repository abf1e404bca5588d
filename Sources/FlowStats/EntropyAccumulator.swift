import Verdict

/// The entropy half of the flow statistics, run on the thread that writes the events: payload
/// samples of open windows are tallied here by window, and merged into each window when it is
/// handed over. Bounded like the windows it serves; a window pushed out early only loses its
/// entropy figures. Unchecked Sendable: one thread uses it at a time (the output thread).
public final class EntropyAccumulator: @unchecked Sendable {
    struct Tallies {
        var up = EntropyTally()
        var down = EntropyTally()
    }

    public static let bytesPerWindow = BoundedTable<UInt32, Tallies>.bytesPerEntry
    private var windows: BoundedTable<UInt32, Tallies>

    /// `capacity`: the client table's; each open window has one entry at most.
    public init(capacity: Int) {
        windows = BoundedTable(capacity: max(capacity, 1))
    }

    public func perform(_ work: FlowStatistics.EntropyWork) {
        switch work {
        case .sample(let window, let upstream, let payload):
            let slot = windows.slot(of: window) ?? windows.place(Tallies(), for: window)
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
