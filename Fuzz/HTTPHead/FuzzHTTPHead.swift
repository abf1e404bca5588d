import Verdict

/// libFuzzer harness: any bytes as the start of a client's stream, through the request-head
/// reader and the User-Agent rules.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    bytes.withUnsafeBytes { raw in
        if case .complete(let head) = HTTPRequestParser.parse(raw) {
            _ = UserAgentRules.claimedOS(userAgent: head.userAgent, platformHint: head.platformHint)
            _ = StringInterner(budget: 4096).intern(head)
        }
    }
    return 0
}
