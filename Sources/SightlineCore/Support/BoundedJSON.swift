/// A JSON reader for what agencies send: one pass over the bytes, no exceptions, and a limit on
/// everything an attacker could make large (depth, members, string and number lengths), so that
/// no input costs more than a bounded amount of memory or time.
///
/// Foundation's JSONDecoder builds the whole value before anything can be checked and accepts
/// duplicate keys (first or last wins, silently); neither is acceptable for records whose keys
/// decide what is stored. Strings must be valid UTF-8 (escapes included: a lone surrogate is
/// refused), numbers must be finite, and no key may appear twice in one object.
///
/// Errors carry a reason and a byte offset, never the text that was read: the text is the
/// client's and may be an identifier.
public struct BoundedJSON: Sendable {
    public struct Limits: Sendable {
        /// Nesting of arrays and objects: a record is three levels deep.
        public var maxDepth = 8
        /// Members of one object or elements of one array.
        public var maxMembers = 64
        /// UTF-8 bytes of one string (after unescaping) or key.
        public var maxStringBytes = 1024
        /// Characters of one number literal: 5,000-digit numbers are refused before conversion.
        public var maxNumberLength = 32
        public init() {}
    }

    public struct Failure: Error, Sendable, Equatable {
        public let reason: String
        /// Byte offset in the input where reading stopped.
        public let offset: Int
    }

    public let limits: Limits
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Reads exactly one JSON value from `bytes` (whitespace around it allowed).
    public func parse<C: Collection<UInt8>>(_ bytes: C) -> Result<JSONValue, Failure> {
        let array = Array(bytes)
        return array.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer, limits: limits)
            reader.skipWhitespace()
            let value = reader.value(depth: 0)
            guard case .success = value else { return value }
            reader.skipWhitespace()
            guard reader.position == buffer.count else { return .failure(reader.fail("text after the JSON value")) }
            return value
        }
    }

    /// Reads a JSON value at `position` of a larger buffer and returns it with the position after it.
    /// Used to read a JSON array body one element at a time.
    public func parseValue(in buffer: UnsafeBufferPointer<UInt8>, at position: Int, depth: Int) -> (Result<JSONValue, Failure>, Int) {
        var reader = Reader(bytes: buffer, limits: limits)
        reader.position = position
        let value = reader.value(depth: depth)
        return (value, reader.position)
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let limits: Limits
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, limits: Limits) { self.bytes = bytes; self.limits = limits }

        func fail(_ reason: String) -> Failure { Failure(reason: reason, offset: position) }

        var atEnd: Bool { position >= bytes.count }
        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func literal(_ text: StaticString, _ value: JSONValue) -> Result<JSONValue, Failure> {
            let count = text.utf8CodeUnitCount
            guard position + count <= bytes.count else { return .failure(fail("unexpected end of input")) }
            for i in 0..<count where bytes[position + i] != text.utf8Start[i] { return .failure(fail("not a JSON value")) }
            position += count
            return .success(value)
        }

        mutating func value(depth: Int) -> Result<JSONValue, Failure> {
            guard let byte = peek() else { return .failure(fail("unexpected end of input")) }
            switch byte {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return .failure(fail("not a JSON value"))
            }
        }

        mutating func object(depth: Int) -> Result<JSONValue, Failure> {
            guard depth <= limits.maxDepth else { return .failure(fail("nested more than \(limits.maxDepth) levels deep")) }
            position += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { position += 1; return .success(.object(members)) }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { return .failure(fail("expected a quoted key")) }
                let key: String
                switch string() {
                case .success(let k): key = k
                case .failure(let f): return .failure(f)
                }
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { return .failure(fail("expected ':' after a key")) }
                position += 1
                skipWhitespace()
                let member: JSONValue
                switch value(depth: depth) {
                case .success(let v): member = v
                case .failure(let f): return .failure(f)
                }
                guard members.updateValue(member, forKey: key) == nil else {
                    return .failure(fail("a key appears twice in one object"))
                }
                guard members.count <= limits.maxMembers else { return .failure(fail("more than \(limits.maxMembers) members in one object")) }
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .success(.object(members))
                case nil: return .failure(fail("unexpected end of input"))
                default: return .failure(fail("expected ',' or '}'"))
                }
            }
        }

        mutating func array(depth: Int) -> Result<JSONValue, Failure> {
            guard depth <= limits.maxDepth else { return .failure(fail("nested more than \(limits.maxDepth) levels deep")) }
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { position += 1; return .success(.array(elements)) }
            while true {
                skipWhitespace()
                switch value(depth: depth) {
                case .success(let v): elements.append(v)
                case .failure(let f): return .failure(f)
                }
                guard elements.count <= limits.maxMembers else { return .failure(fail("more than \(limits.maxMembers) elements in one array")) }
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .success(.array(elements))
                case nil: return .failure(fail("unexpected end of input"))
                default: return .failure(fail("expected ',' or ']'"))
                }
            }
        }

        mutating func number() -> Result<JSONValue, Failure> {
            let start = position
            func digits(_ r: inout Reader) -> Int {
                let s = r.position
                while let b = r.peek(), b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { r.position += 1 }
                return r.position - s
            }
            if peek() == UInt8(ascii: "-") { position += 1 }
            let intDigits = digits(&self)
            guard intDigits > 0 else { return .failure(fail("not a JSON number")) }
            if intDigits > 1 && bytes[position - intDigits] == UInt8(ascii: "0") { return .failure(fail("a number has a leading zero")) }
            if peek() == UInt8(ascii: ".") {
                position += 1
                guard digits(&self) > 0 else { return .failure(fail("not a JSON number")) }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                position += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
                guard digits(&self) > 0 else { return .failure(fail("not a JSON number")) }
            }
            guard position - start <= limits.maxNumberLength else {
                return .failure(Failure(reason: "a number longer than \(limits.maxNumberLength) characters", offset: start))
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            guard let n = Double(text), n.isFinite else {
                return .failure(Failure(reason: "a number out of range", offset: start))
            }
            return .success(.number(n))
        }

        /// A quoted string, unescaped, checked as UTF-8 and against the length limit.
        mutating func string() -> Result<String, Failure> {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { return .failure(fail("unterminated string")) }
                let b = bytes[position]
                switch b {
                case UInt8(ascii: "\""):
                    position += 1
                    // Validates UTF-8: invalid sequences are refused, not replaced.
                    guard let s = String(validating: out, as: UTF8.self) else {
                        return .failure(fail("a string is not valid UTF-8"))
                    }
                    return .success(s)
                case UInt8(ascii: "\\"):
                    position += 1
                    guard let e = peek() else { return .failure(fail("unterminated string")) }
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let unit = hex4() else { return .failure(fail("a \\u escape needs four hex digits")) }
                        var scalarValue = UInt32(unit)
                        if (0xD800...0xDBFF).contains(unit) {
                            guard peek() == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                                return .failure(fail("a lone surrogate in a \\u escape"))
                            }
                            position += 2
                            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else {
                                return .failure(fail("a lone surrogate in a \\u escape"))
                            }
                            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(unit) {
                            return .failure(fail("a lone surrogate in a \\u escape"))
                        }
                        guard scalarValue != 0, let scalar = Unicode.Scalar(scalarValue) else {
                            return .failure(fail("a NUL character in a string"))
                        }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default:
                        return .failure(fail("an unknown escape in a string"))
                    }
                default:
                    guard b >= 0x20 else { return .failure(fail("a control character in a string")) }
                    out.append(b)
                    position += 1
                }
                guard out.count <= limits.maxStringBytes else {
                    return .failure(fail("a string longer than \(limits.maxStringBytes) bytes"))
                }
            }
        }

        mutating func hex4() -> UInt16? {
            guard position + 4 <= bytes.count else { return nil }
            var v: UInt16 = 0
            for _ in 0..<4 {
                let b = bytes[position]
                let d: UInt8
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
                default: return nil
                }
                v = v << 4 | UInt16(d)
                position += 1
            }
            return v
        }
    }
}
