import Foundation

/// Splits a submission body into records: NDJSON (one object a line) or one JSON array.
///
/// Bounded by construction: the record count is checked before anything is decoded (NDJSON) or
/// as soon as the cap is passed (array), a line longer than `maxLineBytes` is refused without
/// being read, and each record is read by `BoundedJSON`. Records are handed to the caller one at
/// a time, so a body never exists as a whole tree of values in memory.
public enum SubmissionBody {
    public struct Limits: Sendable {
        public var maxRecords: Int
        /// One NDJSON line or one array element: a record is a few hundred bytes.
        public var maxRecordBytes: Int
        public var json: BoundedJSON.Limits
        public init(maxRecords: Int, maxRecordBytes: Int = 16 * 1024, json: BoundedJSON.Limits = .init()) {
            self.maxRecords = maxRecords; self.maxRecordBytes = maxRecordBytes; self.json = json
        }
    }

    public struct Unreadable: Error, Sendable {
        public enum Code: Sendable, Equatable { case empty, tooManyRecords, notAnArray }
        public let code: Code
        public let reason: String
    }

    /// Calls `record` for each record in order with its line (NDJSON) or position (array), and
    /// its value or why it could not be read. Throws before calling `record` at all when the body
    /// is unusable as a whole: empty, more than `maxRecords` records, or an array that is not
    /// valid JSON.
    public static func forEachRecord(_ data: Data, limits: Limits,
                                     _ record: (_ line: Int, _ value: Result<JSONValue, RecordRejection>) -> Void) throws(Unreadable) {
        let bytes = [UInt8](data)
        try bytes.withUnsafeBufferPointer { buffer throws(Unreadable) in
            var start = 0
            while start < buffer.count, isWhitespace(buffer[start]) { start += 1 }
            if start < buffer.count, buffer[start] == UInt8(ascii: "[") {
                try array(buffer, from: start, limits: limits, record)
            } else {
                try lines(buffer, limits: limits, record)
            }
        }
    }

    /// The older shape: every record at once. For tests and small bodies only.
    public static func parse(_ data: Data, limits: Limits = .init(maxRecords: 50_000)) throws(Unreadable) -> [(line: Int, value: Result<JSONValue, RecordRejection>)] {
        var out: [(line: Int, value: Result<JSONValue, RecordRejection>)] = []
        try forEachRecord(data, limits: limits) { out.append(($0, $1)) }
        return out
    }

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    static func lines(_ buffer: UnsafeBufferPointer<UInt8>, limits: Limits,
                      _ record: (Int, Result<JSONValue, RecordRejection>) -> Void) throws(Unreadable) {
        // First pass: count the records (non-blank lines), stopping at the cap plus one.
        var ranges: [(line: Int, range: Range<Int>)] = []
        var lineNumber = 0
        var lineStart = 0
        var index = 0
        while lineStart <= buffer.count {
            index = lineStart
            while index < buffer.count, buffer[index] != 0x0A { index += 1 }
            lineNumber += 1
            var end = index
            if end > lineStart, buffer[end - 1] == 0x0D { end -= 1 }
            var blank = true
            var i = lineStart
            while i < end { if buffer[i] != 0x20 && buffer[i] != 0x09 { blank = false; break }; i += 1 }
            if !blank {
                ranges.append((lineNumber, lineStart..<end))
                if ranges.count > limits.maxRecords {
                    throw Unreadable(code: .tooManyRecords, reason: "more than \(limits.maxRecords) records in one submission: send smaller batches")
                }
            }
            if index >= buffer.count { break }
            lineStart = index + 1
        }
        guard !ranges.isEmpty else {
            throw Unreadable(code: .empty, reason: "the body holds no records; send NDJSON (one record a line) or a JSON array")
        }
        let parser = BoundedJSON(limits: limits.json)
        for (line, range) in ranges {
            guard range.count <= limits.maxRecordBytes else {
                record(line, .failure(RecordRejection(line: line, field: "", reason: "the line is longer than \(limits.maxRecordBytes) bytes; one record is a few hundred")))
                continue
            }
            switch parser.parse(UnsafeBufferPointer(rebasing: buffer[range])) {
            case .success(let value): record(line, .success(value))
            case .failure(let f): record(line, .failure(RecordRejection(line: line, field: "", reason: "not valid JSON: \(f.reason)")))
            }
        }
    }

    static func array(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, limits: Limits,
                      _ record: (Int, Result<JSONValue, RecordRejection>) -> Void) throws(Unreadable) {
        func unreadable(_ why: String) -> Unreadable {
            Unreadable(code: .notAnArray, reason: "the body starts with '[' but is not a valid JSON array (\(why)); send a JSON array of records or NDJSON (one record a line)")
        }
        let parser = BoundedJSON(limits: limits.json)
        var position = start + 1
        var values: [JSONValue] = []
        func skip() { while position < buffer.count, isWhitespace(buffer[position]) { position += 1 } }
        skip()
        if position < buffer.count, buffer[position] == UInt8(ascii: "]") {
            position += 1
        } else {
            while true {
                skip()
                let elementStart = position
                let (value, end) = parser.parseValue(in: buffer, at: position, depth: 1)
                switch value {
                case .failure(let f): throw unreadable("\(f.reason) at byte \(f.offset)")
                case .success(let v):
                    guard end - elementStart <= limits.maxRecordBytes else {
                        throw unreadable("element \(values.count + 1) is longer than \(limits.maxRecordBytes) bytes")
                    }
                    values.append(v)
                }
                guard values.count <= limits.maxRecords else {
                    throw Unreadable(code: .tooManyRecords, reason: "more than \(limits.maxRecords) records in one submission: send smaller batches")
                }
                position = end
                skip()
                guard position < buffer.count else { throw unreadable("unexpected end of input") }
                if buffer[position] == UInt8(ascii: ",") { position += 1; continue }
                if buffer[position] == UInt8(ascii: "]") { position += 1; break }
                throw unreadable("expected ',' or ']' at byte \(position)")
            }
        }
        skip()
        guard position == buffer.count else { throw unreadable("text after the array") }
        guard !values.isEmpty else {
            throw Unreadable(code: .empty, reason: "the body holds no records; send NDJSON (one record a line) or a JSON array")
        }
        for (i, v) in values.enumerated() { record(i + 1, .success(v)) }
    }
}
