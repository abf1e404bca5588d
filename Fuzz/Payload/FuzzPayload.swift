import FlowStats

/// libFuzzer harness: any bytes as a connection's first payload, through the payload
/// classifier, the TLS ClientHello reader and the entropy count.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    _ = PayloadKind.classify(raw, length: size)
    _ = ClientHello(raw)
    _ = ByteEntropy.of(raw)
    return 0
}
