import CPcap
import Decode

#if canImport(Glibc)
import Glibc
#endif

/// How reading a source ended.
public enum CaptureEnd: Equatable, Sendable {
    case finished  // end of file
    case stopped  // SIGINT/SIGTERM or the packet handler asked to stop
    case truncated(String)  // the file ends inside a record: what came before is kept
    case failed(String)
}

/// libpcap's own counters for a live capture.
public struct CaptureStatistics: Sendable {
    public var received: UInt32
    public var dropped: UInt32
    public var interfaceDropped: UInt32

    public init(received: UInt32, dropped: UInt32, interfaceDropped: UInt32) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
    }
}

/// A capture file or a live interface, opened through libpcap.
public final class PacketSource {
    let handle: OpaquePointer
    public let linkType: LinkType
    public let name: String
    public let isLive: Bool
    /// The stdio buffer a file is read through; freed after libpcap closes the file.
    private let readBuffer: UnsafeMutableRawPointer?

    private init(handle: OpaquePointer, name: String, isLive: Bool, readBuffer: UnsafeMutableRawPointer? = nil) throws {
        let dlt = pcap_datalink(handle)
        guard let link = LinkType(dlt: dlt) else {
            let dltName = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "unknown"
            pcap_close(handle)
            readBuffer?.deallocate()
            throw CaptureError(
                "\(name): unsupported link type \(dltName) (DLT \(dlt)); synprint decodes Ethernet (with VLAN tags), Linux cooked SLL/SLL2, raw IP and BSD loopback"
            )
        }
        self.handle = handle
        self.linkType = link
        self.name = name
        self.isLive = isLive
        self.readBuffer = readBuffer
    }

    deinit {
        pcap_close(handle)
        readBuffer?.deallocate()
    }

    /// stdio reads files 4 KiB at a time. 64 KiB reads take a quarter off reading a capture
    /// (tools/bench.sh); from 128 KiB on, the buffer no longer stays in cache and it is slower.
    static let fileBufferSize = 1 << 16

    /// Opens a pcap or pcapng file ("-" is standard input).
    public static func open(file path: String) throws -> PacketSource {
        // fdopen instead of the `stdin` global, which Swift 6 treats as shared mutable state.
        let standardInput = path == "-"
        guard let file = standardInput ? fdopen(STDIN_FILENO, "rb") : fopen(path, "rb") else {
            throw CaptureError("\(path): \(String(cString: strerror(errno)))")
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: fileBufferSize, alignment: 16)
        setvbuf(file, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, fileBufferSize)
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errbuf) else {
            if !standardInput { fclose(file) }
            buffer.deallocate()
            let message = PacketSource.text(errbuf)
            throw CaptureError("\(path): \(message.isEmpty ? "cannot open" : message)")
        }
        return try PacketSource(handle: handle, name: path, isLive: false, readBuffer: buffer)
    }

    /// Opens a live interface. Errors say how to get the privilege or which interfaces exist.
    /// `bufferSize` sets the kernel's capture buffer (libpcap's default is 2 MiB); `immediate`
    /// delivers each packet at once instead of when the buffer fills or the timeout passes, for
    /// lookups that must see a client's SYN as soon as its request reaches the web application.
    public static func open(
        interface: String, promiscuous: Bool, snaplen: Int32, bufferSize: Int32? = nil,
        immediate: Bool = false
    ) throws -> PacketSource {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errbuf) else {
            throw CaptureError("\(interface): \(PacketSource.text(errbuf))")
        }
        pcap_set_snaplen(handle, snaplen)
        pcap_set_promisc(handle, promiscuous ? 1 : 0)
        pcap_set_timeout(handle, 100)
        if let bufferSize { pcap_set_buffer_size(handle, bufferSize) }
        if immediate { pcap_set_immediate_mode(handle, 1) }
        let status = pcap_activate(handle)
        if status < 0 {
            let detail = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            switch status {
            case PCAP_ERROR_PERM_DENIED:
                throw CaptureError(
                    "\(interface): no permission to capture (\(detail)); run synprint as root (with -u USER to drop privileges once the capture is open) or grant it the capability: sudo setcap cap_net_raw+eip $(command -v synprint)"
                )
            case PCAP_ERROR_NO_SUCH_DEVICE:
                let names = (try? interfaces().map(\.name).joined(separator: ", ")) ?? "none found"
                throw CaptureError("\(interface): no such interface; available: \(names)")
            default:
                throw CaptureError("\(interface): cannot capture: \(detail)")
            }
        }
        guard pcap_setnonblock(handle, 1, &errbuf) == 0 else {
            pcap_close(handle)
            throw CaptureError("\(interface): cannot make the capture non-blocking: \(PacketSource.text(errbuf))")
        }
        return try PacketSource(handle: handle, name: interface, isLive: true)
    }

    public struct Interface {
        public var name: String
        public var description: String?
        public var isUp: Bool
        public var isLoopback: Bool
    }

    public static func interfaces() throws -> [Interface] {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var list: UnsafeMutablePointer<pcap_if_t>?
        guard pcap_findalldevs(&list, &errbuf) == 0 else {
            throw CaptureError("cannot list interfaces: \(PacketSource.text(errbuf))")
        }
        defer { pcap_freealldevs(list) }
        var result: [Interface] = []
        var cursor = list
        while let device = cursor {
            let flags = device.pointee.flags
            result.append(
                Interface(
                    name: String(cString: device.pointee.name),
                    description: device.pointee.description.map { String(cString: $0) },
                    isUp: flags & UInt32(PCAP_IF_UP) != 0,
                    isLoopback: flags & UInt32(PCAP_IF_LOOPBACK) != 0))
            cursor = device.pointee.next
        }
        return result
    }

    /// Why `expression` is not a filter on its own (libpcap's message), or nil: the user's words
    /// are checked alone first, so that `tcp) or (udp` cannot escape the parentheses around them.
    public static func checkFilter(_ expression: String) -> String? {
        guard let handle = pcap_open_dead(DLT_EN10MB, 65535) else { return "libpcap could not compile filters" }
        defer { pcap_close(handle) }
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            return String(cString: pcap_geterr(handle))
        }
        pcap_freecode(&program)
        return nil
    }

    /// Compiles and installs a BPF filter; a bad expression throws `FilterError` with libpcap's message.
    public func setFilter(_ expression: String) throws {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw FilterError(message: String(cString: pcap_geterr(handle)))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            throw CaptureError("cannot install filter: \(String(cString: pcap_geterr(handle)))")
        }
    }

    /// A live interface, or a file that is a pipe or FIFO: packets arrive as something else
    /// writes them, so each result should be passed on at once rather than batched.
    public var arrivesOverTime: Bool {
        guard !isLive, let file = pcap_file(handle) else { return true }
        var status = stat()
        return fstat(fileno(file), &status) != 0 || (status.st_mode & S_IFMT) != S_IFREG
    }

    /// How far a file has been read, in bytes (nil for a live interface).
    public var fileOffset: Int? {
        guard !isLive, let file = pcap_file(handle) else { return nil }
        return ftell(file)
    }

    /// Reads packets until the end of the file, `shouldStop` saying so (asked before each
    /// packet of a live capture or a pipe, every 4096 packets of a file), or `handlePacket`
    /// returning false. An idle live interface or pipe never blocks for more than 100 ms, so
    /// stops act promptly (a stop signal interrupts a read, but one that came while this
    /// thread was busy would otherwise wait for the pipe's next bytes). `caughtUp` runs
    /// whenever a live capture has handled everything the kernel had for it, before it waits (a
    /// moment to hand queued work on, so that a lone SYN is not held back); `idle` whenever a
    /// live interface or a pipe had nothing for a while (at most 100 ms).
    public func run(
        shouldStop: () -> Bool, caughtUp: () -> Void = {}, idle: () -> Void = {}, _ handlePacket: (Packet) -> Bool
    ) -> CaptureEnd {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let descriptor = isLive ? pcap_get_selectable_fd(handle) : -1
        let pipe = isLive || !arrivesOverTime ? nil : pcap_file(handle)
        var sinceCheck = 0
        while true {
            if isLive || pipe != nil || sinceCheck == 4096 {
                sinceCheck = 0
                if shouldStop() { return .stopped }
            }
            sinceCheck += 1
            if let pipe, synprint_unread(pipe) == 0 {
                var fds = pollfd(fd: fileno(pipe), events: Int16(POLLIN), revents: 0)
                let ready = poll(&fds, 1, 100)
                if ready == 0 { idle() }
                if ready == 0 || ready < 0 && errno == EINTR { continue }  // a signal: asked about above
            }
            let status = pcap_next_ex(handle, &header, &data)
            switch status {
            case 1:
                guard let header, let data else { continue }
                let packet = Packet(
                    seconds: Int(header.pointee.ts.tv_sec),
                    microseconds: Int(header.pointee.ts.tv_usec),
                    bytes: UnsafeRawBufferPointer(start: data, count: Int(header.pointee.caplen)))
                if !handlePacket(packet) { return .stopped }
            case 0:
                // Live and nothing buffered: wait for the descriptor, at most 100 ms.
                caughtUp()
                var fds = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                if poll(&fds, 1, 100) == 0 { idle() }
            case PCAP_ERROR_BREAK:
                return isLive ? .stopped : .finished
            default:
                if shouldStop() { return .stopped }  // a stop signal interrupted a read from a pipe
                let message = String(cString: pcap_geterr(handle))
                if message.contains("truncated") { return .truncated(message) }
                return .failed(message)
            }
        }
    }

    /// libpcap's NUL-terminated error buffer as text.
    static func text(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Received/dropped counters; nil for files.
    public func statistics() -> CaptureStatistics? {
        guard isLive else { return nil }
        var stats = pcap_stat()
        guard pcap_stats(handle, &stats) == 0 else { return nil }
        return CaptureStatistics(received: stats.ps_recv, dropped: stats.ps_drop, interfaceDropped: stats.ps_ifdrop)
    }
}
