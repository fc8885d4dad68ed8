import Foundation
import Testing
@testable import SightlineCore

@Suite("JSON values")
struct JSONValueTests {
    @Test("numbers and booleans decode as what they are", arguments: [
        ("1", JSONValue.number(1)), ("0", .number(0)), ("1.5", .number(1.5)), ("true", .bool(true)), ("false", .bool(false)),
        ("null", .null), ("\"1\"", .string("1")), ("[1,true]", .array([.number(1), .bool(true)])),
    ])
    func decoding(_ text: String, _ expected: JSONValue) {
        #expect(json(text) == expected)
    }

    @Test("a 1 or 0 sent for a boolean field is refused, not read as true or false")
    func numberIsNotBoolean() throws {
        let body = Data(#"{"kind":"school.enrolment","localRef":"R1","observedAt":"2026-11-01T10:00:00Z","identifiers":{"nhsNumber":"9434765919"},"fields":{"onRollFrom":"2025-09-03","youngCarer":1}}"#.utf8)
        let value = try #require(try SubmissionBody.parse(body).first?.value.get())
        guard case .failure(let r) = RecordValidator(now: Fixture.now).validate(value, line: 1) else {
            Issue.record("1 accepted as a boolean"); return
        }
        #expect(r.field == "fields.youngCarer")
    }

    @Test("whole numbers encode without a fraction; canonical JSON sorts keys")
    func encoding() {
        #expect(CanonicalJSON.string(JSONValue.object(["b": .number(74), "a": .number(1.5), "c": .string("x/y")]))
                == #"{"a":1.5,"b":74,"c":"x/y"}"#)
    }
}
