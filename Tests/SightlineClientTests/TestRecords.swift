import Foundation
@testable import SightlineCore

/// What the reader tests share: the repository, a validator whose "now" is the sample data's, and
/// JSON literals for expected records.
enum TestRecords {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let validator = RecordValidator(now: Instant.parse("2026-11-29T12:00:00Z")!)
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { objectValue?[key] }
}

// Literals for expected records in these tests: "a" is .string("a"), true .bool(true), 3 .number(3).
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}
