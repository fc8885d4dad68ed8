import Foundation

/// Splits a submission body into records: NDJSON (one object a line) or one JSON array.
public enum SubmissionBody {
    public struct Unreadable: Error, Sendable { public let reason: String }

    /// Each element is a decoded record value, or why its line could not be read as JSON.
    /// Throws only when the body as a whole is unusable (an array that is not valid JSON).
    public static func parse(_ data: Data) throws(Unreadable) -> [(line: Int, value: Result<JSONValue, RecordRejection>)] {
        let decoder = JSONDecoder()
        let firstByte = data.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") }
        if firstByte == UInt8(ascii: "[") {
            guard let array = try? decoder.decode([JSONValue].self, from: data) else {
                throw Unreadable(reason: "the body starts with '[' but is not a valid JSON array; send a JSON array of records or NDJSON (one record a line)")
            }
            return array.enumerated().map { ($0.offset + 1, .success($0.element)) }
        }
        var out: [(line: Int, value: Result<JSONValue, RecordRejection>)] = []
        var lineNumber = 0
        for lineBytes in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = lineBytes.last == UInt8(ascii: "\r") ? lineBytes.dropLast() : lineBytes
            if trimmed.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            if let value = try? decoder.decode(JSONValue.self, from: Data(trimmed)) {
                out.append((lineNumber, .success(value)))
            } else {
                out.append((lineNumber, .failure(RecordRejection(line: lineNumber, field: "", reason: "not valid JSON"))))
            }
        }
        return out
    }
}
