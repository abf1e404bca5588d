import Match

/// libFuzzer harness: any bytes as the lines of a database file after its header; a bad line
/// must be an error with its line, never a trap, and a good one must write back and read again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = "{\"synprint_db\": 1}\n" + String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let database = try? Database.parse(text, file: "fuzz") else { return 0 }
    _ = try? Database.parse(database.serialized(), file: "again")
    _ = Matcher(database: database)
    return 0
}
