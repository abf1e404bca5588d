import FlowStats
import Match

/// libFuzzer harness: any bytes as a connection's first payload, through the payload
/// classifier, the TLS ClientHello reader with the shipped table of TLS stacks, and the entropy
/// count.
// libFuzzer calls the harness from a single thread.
nonisolated(unsafe) let stacks = try? TLSStacks.load(file: "database/tls.jsonl")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    _ = PayloadKind.classify(raw, length: size)
    let hello = ClientHello(raw)
    _ = stacks?.classify(
        ciphers: hello.ciphers, extensions: hello.extensions, groups: hello.groups, grease: hello.grease, protocols: hello.protocols)
    _ = ByteEntropy.of(raw)
    return 0
}
