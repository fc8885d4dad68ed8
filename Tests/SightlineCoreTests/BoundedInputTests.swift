import Foundation
import Testing
@testable import SightlineCore

/// Issue 9, item 3 and item 2: no body costs unbounded memory or time, and nothing the client
/// chose as a key name or reference is echoed or kept.
@Suite("Bounded input")
struct BoundedInputTests {
    func parse(_ text: String) -> Result<JSONValue, BoundedJSON.Failure> { BoundedJSON().parse(Array(text.utf8)) }
    func failure(_ text: String) -> String? {
        if case .failure(let f) = parse(text) { return f.reason }
        return nil
    }

    @Test("deep nesting is refused at the depth limit, not by exhausting the stack")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(failure(deep)?.contains("nested") == true)
        let deepObject = String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        #expect(failure(deepObject)?.contains("nested") == true)
    }

    @Test("hostile values are refused with a reason that echoes nothing", arguments: [
        ("{\"a\":1,\"a\":2}", "twice"),
        ("{\"s\":\"\\ud800\"}", "surrogate"),
        ("{\"s\":\"\\udc00x\"}", "surrogate"),
        ("{\"s\":\"a\\u0000b\"}", "NUL"),
        ("{\"s\":\"tab\there\"}", "control"),
        ("{\"n\":1e400}", "range"),
        ("{\"n\":\(String(repeating: "9", count: 5_000))}", "longer"),
        ("{\"n\":01}", "leading zero"),
        ("{\"s\":\"\(String(repeating: "x", count: 2_000))\"}", "longer"),
        ("{\"a\":1} {\"b\":2}", "after"),
    ])
    func hostile(_ input: (String, String)) {
        let reason = failure(input.0)
        #expect(reason?.contains(input.1) == true, "\(reason ?? "accepted")")
        #expect(reason?.contains("9999") != true)
    }

    @Test("invalid UTF-8 inside a string is refused, not replaced")
    func invalidUTF8() {
        let bytes: [UInt8] = Array("{\"s\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        guard case .failure(let f) = BoundedJSON().parse(bytes) else { Issue.record("accepted invalid UTF-8"); return }
        #expect(f.reason.contains("UTF-8"))
    }

    @Test("50,000 fields in one object stop at the member limit")
    func manyFields() {
        let text = "{" + (0..<50_000).map { "\"f\($0)\":0" }.joined(separator: ",") + "}"
        #expect(failure(text)?.contains("members") == true)
    }

    @Test("ordinary records read as Foundation reads them, escapes and surrogate pairs included")
    func ordinary() throws {
        let text = #"{"kind":"school.enrolment","n":-12.5e1,"ok":true,"none":null,"list":[1,"two"],"s":"Zo\u00eb \ud83d\ude00 \"q\" \/"}"#
        let ours = try parse(text).get()
        let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs)
    }

    // MARK: bodies

    @Test("a body of 16 million empty-ish lines stops at the record cap without decoding any")
    func millionsOfLines() {
        let body = Data(String(repeating: "x\n", count: 16 * 1024 * 1024).utf8)
        var seen = 0
        #expect { try SubmissionBody.forEachRecord(body, limits: .init(maxRecords: 50_000)) { _, _ in seen += 1 } }
            throws: { ($0 as? SubmissionBody.Unreadable)?.code == .tooManyRecords }
        #expect(seen == 0, "nothing is decoded once the body is over the cap")
    }

    @Test("a JSON array longer than the cap stops at the cap plus one")
    func longArray() {
        let body = Data(("[" + Array(repeating: "0", count: 2_000_000).joined(separator: ",") + "]").utf8)
        var seen = 0
        #expect { try SubmissionBody.forEachRecord(body, limits: .init(maxRecords: 1_000)) { _, _ in seen += 1 } }
            throws: { ($0 as? SubmissionBody.Unreadable)?.code == .tooManyRecords }
        #expect(seen == 0)
    }

    @Test("a line over the byte limit is one rejection; the records around it are read")
    func longLine() throws {
        let body = Data(("{\"n\":1}\n{\"s\":\"" + String(repeating: "y", count: 20_000) + "\"}\n{\"n\":3}\n").utf8)
        let lines = try SubmissionBody.parse(body, limits: .init(maxRecords: 10, maxRecordBytes: 16 * 1024))
        #expect(lines.map(\.line) == [1, 2, 3])
        guard case .failure(let r) = lines[1].value else { Issue.record("long line accepted"); return }
        #expect(r.reason.contains("bytes"))
        #expect(!r.reason.contains("yyyy"))
        #expect((try? lines[0].value.get()) != nil && (try? lines[2].value.get()) != nil)
    }

    // MARK: what the validator echoes

    static let record = #"{"kind":"nhs.gp-registration","localRef":"GP-1","observedAt":"2026-11-20T09:00:00Z","identifiers":{"nhsNumber":"9434765919"},"fields":{"practice":"Y12345","registeredFrom":"2020-01-01"}}"#

    func validate(_ text: String) -> Result<ValidatedRecord, RecordRejection> {
        let value = BoundedJSON().parse(Array(text.utf8))
        guard case .success(let v) = value else { return .failure(RecordRejection(line: 1, field: "", reason: "unparsable")) }
        return RecordValidator(now: Instant.parse("2026-11-30T12:00:00Z")!).validate(v, line: 1)
    }

    func with(_ edit: (inout [String: Any]) -> Void) -> String {
        var object = try! JSONSerialization.jsonObject(with: Data(Self.record.utf8)) as! [String: Any]
        edit(&object)
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("unknown keys are counted, never named: not in the field, not in the reason", arguments: ["9434765919", "Zyxquorth Vexmoribund"])
    func unknownKeys(_ key: String) throws {
        let cases: [(String, String)] = [
            (with { $0[key] = 1 }, ""),
            (with { var ids = $0["identifiers"] as! [String: Any]; ids[key] = "x"; $0["identifiers"] = ids }, "identifiers"),
            (with { var f = $0["fields"] as! [String: Any]; f[key] = "x"; $0["fields"] = f }, "fields"),
        ]
        for (text, field) in cases {
            guard case .failure(let r) = validate(text) else { Issue.record("accepted an unknown key"); continue }
            #expect(r.field == field)
            #expect(r.reason.contains("1 unknown"))
            #expect(!r.reason.contains(key) && !r.field.contains(key))
            #expect(!(r.reason + r.field).contains("Zyxq") && !(r.reason + r.field).contains("94347"))
        }
    }

    @Test("a localRef that is an NHS number or UPN is refused and not echoed", arguments: ["9434765919", "943 476 5919", "H801200001001"])
    func identifierAsReference(_ ref: String) {
        guard case .failure(let r) = validate(with { $0["localRef"] = ref }) else { Issue.record("accepted"); return }
        #expect(r.field == "localRef")
        #expect(r.localRef == nil, "the refused reference is not echoed in the receipt")
        #expect(!r.reason.contains(ref))
    }

    @Test("practice must be an ODS practice code; an NHS number there is refused", arguments: ["9434765919", "Y1234", "Y123456", "12345A", "Y12 345", ""])
    func practiceCode(_ code: String) {
        guard case .failure(let r) = validate(with { var f = $0["fields"] as! [String: Any]; f["practice"] = code; $0["fields"] = f }) else {
            Issue.record("accepted practice"); return
        }
        #expect(r.field == "fields.practice")
        #expect(code.isEmpty || !r.reason.contains(code))
    }

    @Test("a practice code in either case is kept upper case")
    func practiceUpper() throws {
        let ok = try validate(with { var f = $0["fields"] as! [String: Any]; f["practice"] = "y12345"; $0["fields"] = f }).get()
        #expect(ok.fields["practice"] == .string("Y12345"))
    }

    @Test("lengths are UTF-8 bytes: one letter and a million combining accents is not one character's worth")
    func combiningAccents() {
        let name = "a" + String(repeating: "\u{0301}", count: 1_000_000)
        #expect(name.count == 1)
        let text = with { var ids = $0["identifiers"] as! [String: Any]; ids["givenName"] = name; $0["identifiers"] = ids }
        // Over the string limit of the reader already; the validator's own limit is in bytes too.
        #expect(failure(text)?.contains("bytes") == true)
        let validator = RecordValidator(now: Date())
        let shorter = "a" + String(repeating: "\u{0301}", count: 200)
        guard case .failure(let p) = validator.validateIdentifiers(["givenName": .string(shorter), "familyName": .string("Smith"),
                                                                     "dateOfBirth": .string("2014-03-02")]) else {
            Issue.record("accepted a 401-byte name"); return
        }
        #expect(p.field == "givenName" && p.reason.contains("bytes"))
    }
}
