import CJSON

/// One JSON object parsed by json-c, read in place: fields are looked up by key in json-c's
/// own table, with no intermediate dictionary and no boxed values (Foundation's
/// JSONSerialization made up most of the time to load a large database; README, Database
/// parsing).
public final class JSONObject {
    private let root: OpaquePointer

    private init(root: OpaquePointer) { self.root = root }
    deinit { json_object_put(root) }

    /// Why a line is not one JSON object.
    public struct ParseError: Error {
        public let message: String
    }

    /// Parses one JSON object per call, reusing json-c's tokener across calls (lines of a file).
    public final class Parser {
        private let tokener: UnsafeMutablePointer<json_tokener>

        public init() {
            tokener = json_tokener_new()!
            json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8)
        }

        deinit { json_tokener_free(tokener) }

        /// Exactly one JSON object (whitespace may surround it). Strict JSON: no comments,
        /// single quotes or trailing commas, and strings must be valid UTF-8.
        public func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONObject {
            json_tokener_reset(tokener)
            let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
            guard let parsed = json_tokener_parse_ex(tokener, base, Int32(clamping: bytes.count)) else {
                let error = json_tokener_get_error(tokener)
                if error == json_tokener_continue { throw ParseError(message: "not valid JSON: the line ends inside a value") }
                throw ParseError(message: "not valid JSON: \(String(cString: json_tokener_error_desc(error)))")
            }
            let object = JSONObject(root: parsed)
            let end = json_tokener_get_parse_end(tokener)
            if bytes[end...].contains(where: { !isJSONWhitespace($0) }) {
                throw ParseError(message: "not valid JSON: text after the object at column \(end + 1)")
            }
            guard json_object_get_type(parsed) == json_type_object else { throw ParseError(message: "expected a JSON object") }
            return object
        }
    }

    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The object itself as a value.
    public var value: JSONValue { JSONValue(pointer: root) }

    public subscript(key: String) -> JSONValue? { value[key] }

    /// The member names in file order.
    public var keys: [String] { value.members.map(\.name) }
}

/// A value inside a parsed object, valid while the object lives.
public struct JSONValue: CustomStringConvertible {
    let pointer: OpaquePointer?  // json-c represents null as a NULL pointer

    public var isNull: Bool { pointer == nil }

    public var string: String? {
        guard let pointer, json_object_get_type(pointer) == json_type_string, let text = json_object_get_string(pointer) else {
            return nil
        }
        let bytes = UnsafeRawBufferPointer(start: text, count: Int(json_object_get_string_len(pointer)))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A whole number: an integer, or a number with a zero fraction (`64.0`).
    public var integer: Int? {
        guard let pointer else { return nil }
        switch json_object_get_type(pointer) {
        case json_type_int:
            return Int(json_object_get_int64(pointer))
        case json_type_double:
            let value = json_object_get_double(pointer)
            return value.rounded() == value ? Int(exactly: value) : nil
        default:
            return nil
        }
    }

    /// A number as JSON wrote it (`12`, `1e300`), for fields read as text.
    public var numberText: String? {
        guard let pointer else { return nil }
        let type = json_object_get_type(pointer)
        guard type == json_type_int || type == json_type_double else { return nil }
        return description
    }

    public var bool: Bool? {
        guard let pointer, json_object_get_type(pointer) == json_type_boolean else { return nil }
        return json_object_get_boolean(pointer) != 0
    }

    public var isObject: Bool { pointer.map { json_object_get_type($0) == json_type_object } ?? false }

    /// An array's elements; nil for anything else.
    public var elements: [JSONValue]? {
        guard let pointer, json_object_get_type(pointer) == json_type_array else { return nil }
        return (0..<json_object_array_length(pointer)).map { JSONValue(pointer: json_object_array_get_idx(pointer, $0)) }
    }

    public subscript(key: String) -> JSONValue? {
        guard let pointer, json_object_get_type(pointer) == json_type_object else { return nil }
        var member: OpaquePointer?
        // withCString keeps a short key on the stack; passing the String itself would allocate.
        guard key.withCString({ json_object_object_get_ex(pointer, $0, &member) }) != 0 else { return nil }
        return JSONValue(pointer: member)
    }

    /// An object's members in file order.
    public var members: [(name: String, value: JSONValue)] {
        guard let pointer, json_object_get_type(pointer) == json_type_object else { return [] }
        var result: [(name: String, value: JSONValue)] = []
        var iterator = json_object_iter_begin(pointer)
        var end = json_object_iter_end(pointer)
        while json_object_iter_equal(&iterator, &end) == 0 {
            result.append(
                (
                    String(cString: json_object_iter_peek_name(&iterator)),
                    JSONValue(pointer: json_object_iter_peek_value(&iterator))
                ))
            json_object_iter_next(&iterator)
        }
        return result
    }

    /// The value as JSON text, for error messages.
    public var description: String {
        guard let pointer else { return "null" }
        return String(cString: json_object_to_json_string_ext(pointer, JSON_C_TO_STRING_PLAIN))
    }
}
