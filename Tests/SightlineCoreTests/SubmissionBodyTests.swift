import Foundation
import Testing
@testable import SightlineCore

@Suite("Submission bodies")
struct SubmissionBodyTests {
    static let threeRecords: [JSONValue?] = [json(#"{"n":1}"#), json(#"{"n":2}"#), json(#"{"n":3}"#)]

    func parse(_ text: String) throws -> [(line: Int, value: Result<JSONValue, RecordRejection>)] {
        try SubmissionBody.parse(Data(text.utf8))
    }

    @Test("NDJSON with blank lines and CRLF keeps the file's 1-based line numbers")
    func ndjsonLineNumbers() throws {
        let body = "\r\n{\"n\":1}\r\n\r\n   \r\n{\"n\":2}\r\n\t\n{\"n\":3}\n\n"
        let parsed = try parse(body)
        #expect(parsed.map(\.line) == [2, 5, 7])
        #expect(parsed.map { try? $0.value.get() } == Self.threeRecords)
    }

    @Test("a line of invalid JSON is rejected alone; the lines after it still parse")
    func invalidLine() throws {
        let parsed = try parse("{\"n\":1}\n{\"n\": 2,\n{\"n\":3}\n")
        #expect(parsed.map(\.line) == [1, 2, 3])
        #expect(try parsed[0].value.get() == json(#"{"n":1}"#))
        guard case .failure(let r) = parsed[1].value else { Issue.record("line 2 parsed"); return }
        #expect(r.line == 2)
        #expect(r.field == "")
        #expect(!r.reason.isEmpty)
        #expect(try parsed[2].value.get() == json(#"{"n":3}"#))
    }

    @Test("a JSON array numbers its records 1 to n, however it is laid out")
    func jsonArray() throws {
        let parsed = try parse("\n  [\n{\"n\":1},\n\n{\"n\":2},\n{\"n\":3}\n]\n")
        #expect(parsed.map(\.line) == [1, 2, 3])
        #expect(parsed.map { try? $0.value.get() } == Self.threeRecords)
    }

    @Test("a malformed JSON array makes the whole body unreadable",
          arguments: ["[{\"n\":1},", "[{\"n\":1}] trailing", "  [1, 2", "[{\"n\":1}\n{\"n\":2}]"])
    func malformedArray(_ text: String) {
        #expect(throws: SubmissionBody.Unreadable.self) { try parse(text) }
    }

    @Test("an empty body is unreadable as a whole", arguments: ["", "\n\r\n  \n", "[]", " [ ] "])
    func empty(_ text: String) {
        #expect { try parse(text) } throws: { ($0 as? SubmissionBody.Unreadable)?.code == .empty }
    }
}
