extension String {
    /// The text's lines without their ends, `\n` or `\r\n` (a file saved on Windows: Swift
    /// takes `\r\n` as one character, which splitting on `\n` alone never cuts). Empty lines
    /// are kept, so that a line's index plus one is its number.
    public var lines: [Substring] { split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" } }
}
