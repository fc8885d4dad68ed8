import Crypto
import Foundation
@testable import SightlineClient
@testable import SightlineCore

/// CTF files for the reader tests, written into a temporary directory of their own.
struct CTFFixture {
    static let sample = TestRecords.root.appendingPathComponent("ops/sample-data/school-100001/ctf.xml").path
    static let reference = PupilReference(key: SymmetricKey(data: Data(repeating: 7, count: 32)))
    static let school = CTFSender(urn: "100001", laestab: "3042001")

    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-ctf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ text: String, name: String = "file.xml") throws -> String {
        let path = dir + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func header(urn: String? = "100001", lea: String = "304", estab: String = "2001", version: String = "21.0",
                       destLEA: String = "304", destEstab: String = "LLLL") -> String {
        """
          <Header>
            <DocumentName>Common Transfer File</DocumentName>
            <CTFversion>\(version)</CTFversion>
            <DateTime>2026-11-19T17:30:00</DateTime>
            <SourceSchool><LEA>\(lea)</LEA><Estab>\(estab)</Estab>\(urn.map { "<URN>\($0)</URN>" } ?? "")</SourceSchool>
            <DestSchool><LEA>\(destLEA)</LEA><Estab>\(destEstab)</Estab></DestSchool>
          </Header>
        """
    }

    /// One pupil; `extra` goes inside <Pupil>, `school` replaces the SchoolHistory entry's inside.
    static func pupil(upn: String = "H801200001001", surname: String = "Okafor", forename: String = "Amara", dob: String = "2014-03-02",
                      school: String = "<LEA>304</LEA><Estab>2001</Estab><EntryDate>2025-09-03</EntryDate>", extra: String = "") -> String {
        """
            <Pupil>
              <UPN>\(upn)</UPN><Surname>\(surname)</Surname><Forename>\(forename)</Forename><DOB>\(dob)</DOB>
              <Address><BS7666Address><SAON>Flat 2</SAON><PAON>14</PAON><Street>Kenton Road</Street></BS7666Address><PostCode>NW6 4DP</PostCode></Address>
              \(extra)
              <SchoolHistory><School>\(school)</School></SchoolHistory>
            </Pupil>
        """
    }

    static func file(header: String = header(), pupils: [String]) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CTfile>\n\(header)\n  <CTFpupilData>\n\(pupils.joined(separator: "\n"))\n  </CTFpupilData>\n</CTfile>\n"
    }

    static func importer(_ path: String, sender: CTFSender = school) -> CTFImport {
        CTFImport(path: path, sender: sender, reference: reference, fallbackObservedAt: "2026-11-20T09:00:00Z")
    }

    /// Every record and rejection the file makes, in order.
    static func read(_ path: String, sender: CTFSender = school) throws -> (records: [JSONValue], positions: [(Int, String?)], rejected: [RecordRejection]) {
        var records: [JSONValue] = []
        var positions: [(Int, String?)] = []
        var rejected: [RecordRejection] = []
        _ = try importer(path, sender: sender).read(emit: { r in
            records.append(try! JSONDecoder().decode(JSONValue.self, from: r.json))
            positions.append((r.line, r.position))
            return true
        }, reject: { rejected.append($0) })
        return (records, positions, rejected)
    }
}
