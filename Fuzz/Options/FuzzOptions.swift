import Features
import Formatting

/// libFuzzer harness: any bytes as a TCP options area (at most 40 bytes, as the header allows),
/// parsed and written back in p0f's syntax.
// libFuzzer calls the harness from a single thread.
nonisolated(unsafe) let text = TextBuffer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: min(size, 40)))
    bytes.withUnsafeBytes { raw in
        let options = TCPOptions(raw, offset: 0, length: raw.count)
        text.removeAll()
        OptionNames.write(options.layout, eolPadding: options.eolPadding, to: text)
    }
    return 0
}
