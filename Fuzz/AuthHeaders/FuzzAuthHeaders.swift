import Verdict

/// libFuzzer harness: any bytes as a forward-auth subrequest's header lines (`name: value`),
/// through the reader of `GET /v1/auth` and the User-Agent rules.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let fields = text.split(separator: "\n").map { line -> (name: String, value: String) in
        let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
    if case .success(let asked) = ForwardAuthRequest.read(
        fields, addressHeader: "X-Forwarded-For", portHeader: "X-Real-Port", userAgentHeader: "User-Agent")
    {
        _ = UserAgentRules.claimedOS(userAgent: asked.head.userAgent, platformHint: asked.head.platformHint)
    }
    return 0
}
