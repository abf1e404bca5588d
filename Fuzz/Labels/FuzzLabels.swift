import Learn

/// libFuzzer harness: any bytes as a labels file, both as CSV and as JSON lines.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = LabelsFile.parseJSONLines(text)
    _ = try? LabelsFile.parseCSV(text, file: "fuzz.csv")
    return 0
}
