import CPcap

#if canImport(Glibc)
import Glibc
#endif

/// Several live captures of one interface as one AF_PACKET fanout group (`--workers` on `-i`):
/// the kernel hands each packet to one member, chosen by a classic BPF program that hashes the
/// packet's client address, so that every packet of a client, both ways, reaches the same
/// worker. The client is the endpoint with the higher port (the ephemeral one); on equal ports,
/// the lower address. The program reads the headers relative to the network header
/// (`SKF_NET_OFF`), which the kernel sets after taking VLAN tags off, so tagged frames hash as
/// untagged ones. What it cannot read (not IPv4 or IPv6, not TCP, IPv6 extension headers, a
/// second VLAN tag) goes to the first member.
public enum Fanout {
    // linux/if_packet.h and linux/filter.h: numbers of the kernel's ABI.
    static let solPacket: Int32 = 263  // SOL_PACKET
    static let packetFanout: Int32 = 18  // PACKET_FANOUT
    static let packetFanoutData: Int32 = 22  // PACKET_FANOUT_DATA
    static let fanoutCBPF: UInt32 = 6  // PACKET_FANOUT_CBPF
    static let network: UInt32 = UInt32(bitPattern: -0x10_0000)  // SKF_NET_OFF
    static let protocolField: UInt32 = UInt32(bitPattern: -0x1000)  // SKF_AD_OFF + SKF_AD_PROTOCOL

    /// One classic BPF instruction, as `struct sock_filter`.
    struct Instruction {
        var code: UInt16
        var jt: UInt8 = 0
        var jf: UInt8 = 0
        var k: UInt32 = 0
    }

    // Opcodes (linux/bpf_common.h).
    static let ldW: UInt16 = 0x20, ldH: UInt16 = 0x28, ldB: UInt16 = 0x30  // A = [k]
    static let ldHInd: UInt16 = 0x48  // A = [X + k], 16 bits
    static let ldxMSH: UInt16 = 0xB1  // X = 4 * ([k] & 0xf)
    static let ldM: UInt16 = 0x60, ldxM: UInt16 = 0x61, st: UInt16 = 0x02  // scratch memory
    static let jeqK: UInt16 = 0x15, jgtX: UInt16 = 0x2D, jeqX: UInt16 = 0x1D
    static let mulK: UInt16 = 0x24, xorX: UInt16 = 0xAC, rshK: UInt16 = 0x74, tax: UInt16 = 0x07
    static let retA: UInt16 = 0x16, retK: UInt16 = 0x06

    /// The program: A holds the client's address folded to 32 bits, mixed, and returned; the
    /// kernel takes it modulo the number of members. Jumps are written as labels and resolved.
    static func program() -> [Instruction] {
        enum Step {
            case op(Instruction)
            case jump(UInt16, k: UInt32, yes: String?, no: String?)  // nil: the next instruction
            case label(String)
        }
        func op(_ code: UInt16, _ k: UInt32 = 0) -> Step { .op(Instruction(code: code, k: k)) }
        /// A = the 32-bit words at `offset` (IPv4: one; IPv6: four, xor-folded), using M[3].
        func fold(_ offset: UInt32, words: Int) -> [Step] {
            var steps = [op(ldW, network + offset)]
            for i in 1..<words {
                steps += [op(st, 3), op(ldW, network + offset + UInt32(4 * i)), op(ldxM, 3), op(xorX)]
            }
            return steps
        }
        /// Ports into M[0] (source) and M[1] (destination), then: higher source port → the
        /// source, lower → the destination, equal → the lower address.
        func choose(_ v: String, source: UInt32, destination: UInt32, words: Int) -> [Step] {
            var steps: [Step] = [
                op(st, 1), op(ldM, 0), op(ldxM, 1),
                .jump(jgtX, k: 0, yes: "\(v)-source", no: nil),
                .jump(jeqX, k: 0, yes: "\(v)-tie", no: "\(v)-destination"),
                .label("\(v)-source"),
            ]
            steps += fold(source, words: words) + [.jump(0x05, k: 0, yes: "mix", no: nil)]  // ja
            steps += [.label("\(v)-destination")] + fold(destination, words: words) + [.jump(0x05, k: 0, yes: "mix", no: nil)]
            steps += [.label("\(v)-tie")] + fold(destination, words: words) + [op(st, 2)] + fold(source, words: words)
            steps += [op(ldxM, 2), .jump(jgtX, k: 0, yes: "\(v)-lower", no: "mix"), .label("\(v)-lower"), op(ldM, 2)]
            steps += [.jump(0x05, k: 0, yes: "mix", no: nil)]
            return steps
        }
        var steps: [Step] = [
            op(ldW, protocolField),
            .jump(jeqK, k: 0x86DD, yes: "v6", no: nil),
            .jump(jeqK, k: 0x0800, yes: nil, no: "other"),
            // IPv4: TCP only; the header length from the first byte.
            op(ldB, network + 9), .jump(jeqK, k: 6, yes: nil, no: "other"),
            op(ldxMSH, network), op(ldHInd, network), op(st, 0), op(ldHInd, network + 2),
        ]
        steps += choose("v4", source: 12, destination: 16, words: 1)
        steps += [
            .label("v6"),
            op(ldB, network + 6), .jump(jeqK, k: 6, yes: nil, no: "other"),
            op(ldH, network + 40), op(st, 0), op(ldH, network + 42),
        ]
        steps += choose("v6", source: 8, destination: 24, words: 4)
        // A multiplicative mix, its high half folded into the low one (the member is A mod N).
        steps += [
            .label("mix"), op(mulK, 0x9E37_79B1), op(tax), op(rshK, 16), op(xorX), op(retA),
            .label("other"), op(retK, 0),
        ]
        var positions: [String: Int] = [:]
        var count = 0
        for step in steps {
            if case .label(let name) = step { positions[name] = count } else { count += 1 }
        }
        var program: [Instruction] = []
        for step in steps {
            switch step {
            case .label: continue
            case .op(let instruction): program.append(instruction)
            case .jump(let code, let k, let yes, let no):
                let here = program.count + 1
                func offset(_ label: String?) -> UInt8 { label.map { UInt8(positions[$0]! - here) } ?? 0 }
                if code == 0x05 {
                    program.append(Instruction(code: code, k: UInt32(positions[yes!]! - here)))
                } else {
                    program.append(Instruction(code: code, jt: offset(yes), jf: offset(no), k: k))
                }
            }
        }
        return program
    }
}

extension PacketSource {
    /// Joins this live capture to fanout group `group` (an id of the caller's choice, the same
    /// for every member), which hands each packet to one member by the client-hash program.
    public func joinFanout(group: UInt16) throws {
        let socket = pcap_fileno(handle)
        var mode = Int32(bitPattern: UInt32(group) | Fanout.fanoutCBPF << 16)
        guard setsockopt(socket, Fanout.solPacket, Fanout.packetFanout, &mode, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw CaptureError("\(name): cannot join the capture workers' fanout group: \(String(cString: strerror(errno)))")
        }
        var instructions = Fanout.program()
        let status = instructions.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var program = sock_fprog(
                len: UInt16(buffer.count), filter: UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: sock_filter.self))
            return setsockopt(socket, Fanout.solPacket, Fanout.packetFanoutData, &program, socklen_t(MemoryLayout<sock_fprog>.size))
        }
        guard status == 0 else {
            throw CaptureError("\(name): cannot set the fanout group's program: \(String(cString: strerror(errno)))")
        }
    }
}
