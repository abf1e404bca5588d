/// A loading problem, located: `file:line: field 'window': expected ...`.
public struct DatabaseError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let field: String?
    public let message: String

    public var description: String {
        if let field { return "\(file):\(line): field '\(field)': \(message)" }
        return line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}
