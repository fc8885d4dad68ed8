import Foundation
import Testing
@testable import SightlineCore

/// A randomized test of the record parser and validators: thousands of malformed records, made
/// by mutating valid ones with a fixed seed, must each be accepted or rejected with a field and a
/// reason, never crash, and never echo an identifier in the reason.
@Suite("Malformed records (randomized)")
struct MalformedRecordFuzzTests {
    /// SplitMix64: a small deterministic generator, so a failure reproduces.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    static let seeds = [
        #"{"kind":"school.enrolment","localRef":"ADM-0042","observedAt":"2026-09-08T08:30:00Z","identifiers":{"upn":"H801200001001","givenName":"Amara","familyName":"Okafor","dateOfBirth":"2014-03-02","postcode":"NW6 4DP"},"fields":{"onRollFrom":"2025-09-03","partTimeTimetable":false,"senStatus":"support","youngCarer":true}}"#,
        #"{"kind":"nhs.gp-registration","localRef":"GP-1","observedAt":"2026-11-01T09:00:00Z","identifiers":{"nhsNumber":"9434765919","givenName":"Bola","familyName":"Adeyemi","dateOfBirth":"2013-05-01"},"fields":{"practice":"Y12345","registeredFrom":"2014-03-20"}}"#,
        #"{"kind":"school.attendance","localRef":"A#1","observedAt":"2026-11-01T09:00:00Z","identifiers":{"upn":"A950000178301"},"fields":{"periodStart":"2026-09-03","periodEnd":"2026-10-17","sessionsPossible":62,"sessionsAttended":55,"sessionsUnauthorised":3}}"#,
        #"{"kind":"police.notification","localRef":"MPS-1","observedAt":"2026-11-01T09:00:00Z","identifiers":{"nhsNumber":"6541003238"},"fields":{"category":"domestic-abuse","occurredAt":"2026-10-31T22:10:00Z","childPresent":true}}"#,
    ]
    static let identifiers = ["H801200001001", "9434765919", "A950000178301", "6541003238", "Okafor", "Adeyemi", "2014-03-02", "2013-05-01", "NW6 4DP"]

    static func mutate(_ text: String, _ rng: inout SeededGenerator) -> String {
        var bytes = Array(text.utf8)
        let junk: [UInt8] = Array("{}[]\",:0129aZé\\ \u{0}\n-T".utf8)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: bytes.remove(at: i)
            case 1: bytes.insert(junk.randomElement(using: &rng)!, at: i)
            case 2: bytes[i] = junk.randomElement(using: &rng)!
            case 3: bytes.replaceSubrange(i..<min(bytes.count, i + Int.random(in: 1...12, using: &rng)), with: [])
            default: if bytes[i] >= 0x30 && bytes[i] <= 0x39 { bytes[i] = UInt8.random(in: 0x30...0x39, using: &rng) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func tenThousandMutatedRecordsAreEachAcceptedOrRejectedWithAReason() throws {
        var rng = SeededGenerator(state: 20261129)
        let validator = RecordValidator(now: Date(timeIntervalSince1970: 1_795_000_000))
        var lines: [String] = []
        for _ in 0..<10_000 { lines.append(Self.mutate(Self.seeds.randomElement(using: &rng)!, &rng)) }
        let parsed = try SubmissionBody.parse(Data(lines.joined(separator: "\n").utf8))
        var accepted = 0, rejected = 0
        for (line, value) in parsed {
            switch value.flatMap({ validator.validate($0, line: line) }) {
            case .success: accepted += 1
            case .failure(let r):
                rejected += 1
                #expect(r.line == line)
                #expect(!r.reason.isEmpty)
                for id in Self.identifiers { #expect(!r.reason.contains(id), "reason echoes an identifier: \(r.field) \(r.reason)") }
            }
        }
        #expect(accepted + rejected == parsed.count)
        #expect(rejected > 5_000, "mutations should mostly break records")
        #expect(accepted > 0, "some mutations are harmless (a digit in a name)")
    }
}
