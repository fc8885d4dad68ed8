import Foundation
import SightlineClient
import SightlineCore
import Testing
@testable import SightlineGateway

/// Privacy is a feature we test: after the whole sample data set goes through a real gateway,
/// no raw identifier is in any file of the state directory (database, WAL, shared memory) or in
/// anything the gateway logged.
@Suite("Privacy at rest", .serialized)
struct PrivacyTests {
    static let sampleData = TestPartnership.repoRoot + "/ops/sample-data"
    static let mappings = TestPartnership.repoRoot + "/ops/mappings"

    /// (identity, kind, file, mapping) for every sample file.
    static let submissions: [(ParticipantIdentity, RecordKind, String, String?)] = {
        var list: [(ParticipantIdentity, RecordKind, String, String?)] = []
        for urn in ["100001", "100002", "100003"] {
            let school = TestPartnership.id(.school, urn)
            list.append((school, .schoolEnrolment, "school-\(urn)/enrolment.csv", "school-enrolment.yaml"))
            list.append((school, .schoolAttendance, "school-\(urn)/attendance.csv", "school-attendance.yaml"))
            list.append((school, .schoolExclusion, "school-\(urn)/exclusions.ndjson", nil))
        }
        list.append((TestPartnership.id(.nhs, "Y12345"), .gpRegistration, "nhs/gp-registrations.ndjson", nil))
        list.append((TestPartnership.id(.police, "MPS"), .policeNotification, "police/notifications.ndjson", nil))
        list.append((TestPartnership.id(.housing, "brent"), .housingTenancy, "housing/tenancies.csv", "housing-tenancy.yaml"))
        list.append((TestPartnership.id(.la, "304"), .laRegister, "la/registers.ndjson", nil))
        return list
    }()

    @Test func noRawIdentifierReachesDiskOrLogs() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        var identities: [ParticipantIdentity: String] = [:]
        for (who, _, _, _) in Self.submissions where identities[who] == nil { identities[who] = try p.identity(who) }
        let needles = try Self.rawIdentifiers()
        #expect(needles.count > 3000, "the sample data should yield thousands of identifiers to look for")
        let ids = identities
        try await p.withGateway { gw in
            var accepted = 0
            for (who, kind, file, mapping) in Self.submissions {
                let client = try gw.client(ids[who]!)
                let prepared = try Submitter.prepare(file: Self.sampleData + "/" + file, format: mapping == nil ? "ndjson" : "csv", kind: kind,
                                                     mapping: try mapping.map { try ColumnMapping.load(path: Self.mappings + "/" + $0) },
                                                     observedAt: "2026-11-20T09:00:00Z")
                let result = await Submitter(client: client).send(file: file, kind: kind, prepared: prepared)
                try await client.shutdown()
                #expect(result.failures.isEmpty, "\(file): \(result.failures)")
                accepted += result.accepted
            }
            #expect(accepted > 5500)
            // While the gateway runs: the WAL and shared-memory files exist and hold recent pages.
            try Self.assertNoNeedles(needles, inDirectory: p.dir, logs: p.logs.text)
        }
        try Self.assertNoNeedles(needles, inDirectory: p.dir, logs: p.logs.text)
    }

    static func assertNoNeedles(_ needles: Set<String>, inDirectory dir: String, logs: String) throws {
        let files = FileManager.default.enumerator(atPath: dir)!.compactMap { $0 as? String }
            .filter { !$0.hasPrefix("identities") && !$0.hasPrefix("ca") && !$0.hasPrefix("gateway") }
        #expect(files.contains("sightline.sqlite"))
        var haystacks: [(String, Data)] = [("logs", Data(logs.utf8))]
        for f in files {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + f, isDirectory: &isDir), !isDir.boolValue {
                haystacks.append((f, try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))))
            }
        }
        let finder = NeedleFinder(needles)
        for (name, data) in haystacks {
            let found = finder.matches(in: data)
            #expect(found.isEmpty, "\(name) contains \(found.count) raw identifier(s), e.g. \(found.prefix(3).map { String($0.prefix(2)) + "…" })")
        }
    }

    /// Every identifier value in the sample data, in the forms it was written and normalised.
    static func rawIdentifiers() throws -> Set<String> {
        var needles = Set<String>()
        var fieldValues = Set<String>()
        func add(_ key: String, _ raw: String) {
            let v = raw.trimmingCharacters(in: .whitespaces)
            guard !v.isEmpty else { return }
            switch key {
            case "nhsNumber", "NHS Number":
                needles.insert(v); needles.insert(v.replacingOccurrences(of: " ", with: ""))
            case "upn", "UPN":
                needles.insert(v.uppercased())
            case "givenName", "familyName", "Legal Forename", "Legal Surname", "Forename", "Surname", "Child Forename", "Child Surname":
                // Short names could occur by chance in binary pages; five letters or more cannot.
                if v.count >= 5 { needles.insert(v); needles.insert(NameNormaliser.normalise(v)) }
            case "dateOfBirth", "DOB", "Child DOB":
                needles.insert(v)
                if let iso = try? ColumnMappingTestAccess.isoDate(v) { needles.insert(iso) }
            case "postcode", "Postcode":
                if let pc = Postcode(v) { needles.insert(pc.normalised); needles.insert(pc.outward + pc.inward) } else { needles.insert(v) }
            default: break
            }
        }
        let fm = FileManager.default
        for file in fm.enumerator(atPath: sampleData)!.compactMap({ $0 as? String }) {
            let path = sampleData + "/" + file
            if file.hasSuffix(".ndjson") {
                for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
                    guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)), case .object(let o) = v else { continue }
                    if case .object(let ids)? = o["identifiers"] { for (k, val) in ids { if let s = val.stringValue { add(k, s) } } }
                    if case .object(let fields)? = o["fields"] { for (_, val) in fields { if let s = val.stringValue { fieldValues.insert(s) } } }
                }
            } else if file.hasSuffix(".csv"), !file.contains("ground-truth"), !file.contains("faults") {
                let table = try CSVTable(text: try String(contentsOfFile: path, encoding: .utf8))
                for row in table.rows {
                    for (i, h) in table.header.enumerated() where i < row.cells.count {
                        add(h, row.cells[i])
                        if let iso = try? ColumnMappingTestAccess.isoDate(row.cells[i]) { fieldValues.insert(iso) }
                    }
                }
            }
        }
        // A date of birth that is also some record's on-roll or registration date is not a leak.
        return needles.subtracting(fieldValues)
    }
}

enum ColumnMappingTestAccess {
    struct NotADate: Error {}
    /// dd/MM/yyyy -> yyyy-MM-dd
    static func isoDate(_ s: String) throws -> String {
        let parts = s.split(separator: "/")
        guard parts.count == 3, parts[2].count == 4 else { throw NotADate() }
        return "\(parts[2])-\(parts[1])-\(parts[0])"
    }
}

/// Finds whole-token occurrences of many needles in one pass: candidates by their first four
/// bytes, then a byte comparison, and a match counts only if not inside a longer word or number
/// ("Grace" is a name; "graceful" in a log line is not).
struct NeedleFinder {
    let byPrefix: [UInt32: [[UInt8]]]

    init(_ needles: Set<String>) {
        var map: [UInt32: [[UInt8]]] = [:]
        for n in needles {
            let bytes = Array(n.utf8)
            guard bytes.count >= 4 else { continue }
            map[Self.key(bytes, 0), default: []].append(bytes)
        }
        byPrefix = map
    }

    static func key(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    static func key(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    static func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    func matches(in data: Data) -> Set<String> {
        var found = Set<String>()
        data.withUnsafeBytes { b in
            guard b.count >= 4 else { return }
            for i in 0...(b.count - 4) {
                guard let candidates = byPrefix[Self.key(b, i)] else { continue }
                if i > 0 && Self.isWordByte(b[i - 1]) { continue }
                for needle in candidates where i + needle.count <= b.count {
                    var equal = true
                    for j in 4..<needle.count where b[i + j] != needle[j] { equal = false; break }
                    if equal, i + needle.count == b.count || !Self.isWordByte(b[i + needle.count]) {
                        found.insert(String(decoding: needle, as: UTF8.self))
                    }
                }
            }
        }
        return found
    }
}

@Suite("Needle finder (the privacy test's own detector)")
struct NeedleFinderTests {
    @Test func findsWholeTokensAndIgnoresLongerWords() {
        let finder = NeedleFinder(["Okafor", "9434765919", "NW6 4DP", "Grace"])
        let hay = Data("x {\"n\":\"Okafor\"} 9434765919, at NW6 4DP; graceful Graceland".utf8)
        #expect(finder.matches(in: hay) == ["Okafor", "9434765919", "NW6 4DP"])
        #expect(finder.matches(in: Data("94347659190 Okaforx".utf8)).isEmpty)
    }
}
