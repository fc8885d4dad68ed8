import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import SightlineClient
@testable import SightlineCore

@Suite("CTF import: the sample file")
struct CTFSampleTests {
    /// The sample CTF and the same school's CSV exports, both as records.
    static func both() throws -> (ctf: [JSONValue], enrolments: [JSONValue?], attendance: [JSONValue?]) {
        let ctf = try CTFFixture.read(CTFFixture.sample)
        #expect(ctf.rejected.isEmpty, "\(ctf.rejected.prefix(3))")
        func csv(_ mapping: String, _ file: String) throws -> [JSONValue?] {
            let m = try ColumnMapping.load(path: TestRecords.root.appendingPathComponent("ops/mappings/\(mapping).yaml").path)
            let table = try CSVTable(text: String(contentsOf: TestRecords.root.appendingPathComponent("ops/sample-data/school-100001/\(file)"), encoding: .utf8))
            return table.rows.map { try? m.record(cells: $0.cells, header: table.header, line: $0.line, observedAt: "2026-11-19T17:30:00Z").get() }
        }
        return (ctf.records, try csv("school-enrolment", "enrolment.csv"), try csv("school-attendance", "attendance.csv"))
    }

    @Test("every pupil becomes an enrolment and one attendance record per YearData: 349 + 652")
    func counts() throws {
        let summary = try CTFFixture.importer(CTFFixture.sample).check()
        #expect(summary.header.version == "21.0")
        #expect(summary.header.source == CTFSchool(lea: "304", estab: "2001", urn: "100001"))
        #expect(!summary.header.isCMETransfer)
        #expect(summary.pupils == 349)
        #expect(summary.records == 349 + 652)
        #expect(summary.rejected.isEmpty)
    }

    @Test("the CTF says what the school's CSV exports say, record for record")
    func sameAsTheCSVExports() throws {
        let (ctf, enrolments, attendance) = try Self.both()
        let ctfEnrolments = ctf.filter { $0["kind"] == .string("school.enrolment") }
        let ctfAttendance = ctf.filter { $0["kind"] == .string("school.attendance") }
        #expect(ctfEnrolments.count == enrolments.count)
        #expect(ctfAttendance.count == attendance.count)
        var compared = 0
        for (c, e) in zip(ctfEnrolments, enrolments) {
            // A CSV row the generator spoiled (a blank or impossible value) is not the MIS's data.
            guard let e, case .success = TestRecords.validator.validate(e, line: 1) else { continue }
            compared += 1
            var expectedIds = e["identifiers"]!.objectValue!
            expectedIds["nhsNumber"] = nil                       // a CTF has no NHS number
            #expect(c["identifiers"]?.objectValue == expectedIds, "pupil \(compared)")
            var expectedFields = e["fields"]!.objectValue!
            for f in ["youngCarer", "partTimeTimetable"] { expectedFields[f] = nil }   // not in a CTF
            if expectedFields["freeSchoolMeals"] == .bool(false) { expectedFields["freeSchoolMeals"] = nil }  // no FSMhistory
            #expect(c["fields"]?.objectValue == expectedFields, "pupil \(compared)")
        }
        #expect(compared > 330, "most enrolment rows are unspoiled: \(compared)")
        var comparedAttendance = 0
        for (c, a) in zip(ctfAttendance, attendance) {
            guard let a, case .success = TestRecords.validator.validate(a, line: 1) else { continue }
            comparedAttendance += 1
            for f in ["periodStart", "sessionsPossible", "sessionsAttended", "sessionsUnauthorised"] {
                #expect(c["fields"]?[f] == a["fields"]?[f], "\(f) of attendance \(comparedAttendance)")
            }
        }
        #expect(comparedAttendance > 620)
    }

    @Test("records are ones the gateway accepts, but for the UPNs the MIS holds wrongly")
    func recordsValidate() throws {
        let (ctf, _, _) = try Self.both()
        var invalidUPN = 0
        for r in ctf {
            switch TestRecords.validator.validate(r, line: 1) {
            case .success(let v): #expect(v.observedAt == Instant.parse("2026-11-19T17:30:00Z"))
            case .failure(let rejection):
                #expect(rejection.field == "identifiers.upn", "\(rejection)")
                invalidUPN += 1
            }
        }
        #expect(invalidUPN > 0 && invalidUPN < 40, "the sample's UPN faults: \(invalidUPN)")
    }

    @Test("localRef is the school's keyed reference: stable, one per pupil, never the UPN")
    func references() throws {
        let first = try CTFFixture.read(CTFFixture.sample).records
        let again = try CTFFixture.read(CTFFixture.sample).records
        let refs = first.compactMap { $0["localRef"]?.stringValue }
        #expect(refs == again.compactMap { $0["localRef"]?.stringValue }, "the same file gives the same references")
        let enrolmentRefs = first.filter { $0["kind"] == .string("school.enrolment") }.compactMap { $0["localRef"]?.stringValue }
        #expect(Set(enrolmentRefs).count == 349)
        #expect(Set(refs).count == refs.count, "attendance references add the period start")
        for (r, ref) in zip(first, refs) {
            #expect(ref.hasPrefix("CTF-") && RecordValidator.localRefProblem(ref) == nil)
            let upn = r["identifiers"]?["upn"]?.stringValue ?? "-"
            #expect(!ref.contains(upn))
        }
        let otherSchool = PupilReference(key: .init(size: .bits256))
        #expect(otherSchool.reference(upn: "H801200001001") != CTFFixture.reference.reference(upn: "H801200001001"),
                "another key (another school) gives other references")
        #expect(CTFFixture.reference.reference(upn: "h8012 00001001") == CTFFixture.reference.reference(upn: "H801200001001"))
    }

    @Test("the reference key is made once, mode 0600, and read back the same")
    func referenceKeyFile() throws {
        let f = try CTFFixture(); defer { f.remove() }
        let made = try PupilReference.load(identityDirectory: f.dir)
        #expect(made.created)
        let mode = try FileManager.default.attributesOfItem(atPath: f.dir + "/" + PupilReference.fileName)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try PupilReference.load(identityDirectory: f.dir)
        #expect(!again.created)
        #expect(again.reference.reference(upn: "H801200001001") == made.reference.reference(upn: "H801200001001"))
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: f.dir + "/" + PupilReference.fileName))
        #expect(throws: ClientError.self) { try PupilReference.load(identityDirectory: f.dir) }
    }
}

@Suite("CTF import: what a pupil becomes")
struct CTFPupilTests {
    func one(_ pupil: String, header: String = CTFFixture.header()) throws -> (records: [JSONValue], rejected: [RecordRejection]) {
        let f = try CTFFixture(); defer { f.remove() }
        let r = try CTFFixture.read(try f.write(CTFFixture.file(header: header, pupils: [pupil])))
        return (r.records, r.rejected)
    }

    @Test("enrolment: names, DOB, BS7666 address as its first line, entry and leaving, ground 8(1)(f) is moved-away")
    func enrolment() throws {
        let pupil = CTFFixture.pupil(school: "<LEA>304</LEA><Estab>2001</Estab><EntryDate>2025-09-03</EntryDate><LeavingDate>2026-07-01</LeavingDate><LeavingReason>8(1)(f)</LeavingReason>",
                                     extra: "<SENhistory><SEN><StartDate>2024-01-01</StartDate><SENprovision>E</SENprovision></SEN></SENhistory><FSMhistory><FSMinstance><FSMstartDate>2025-01-01</FSMstartDate></FSMinstance></FSMhistory>")
        let (records, rejected) = try one(pupil)
        #expect(rejected.isEmpty)
        let e = try #require(records.first)
        #expect(e["identifiers"]?.objectValue == ["upn": "H801200001001", "givenName": "Amara", "familyName": "Okafor", "dateOfBirth": "2014-03-02",
                                                  "postcode": "NW6 4DP", "address": "Flat 2, 14 Kenton Road"])
        #expect(e["fields"]?.objectValue == ["onRollFrom": "2025-09-03", "offRollOn": "2026-07-01", "offRollReason": "moved-away",
                                             "senStatus": "ehcp", "freeSchoolMeals": true])
        #expect(e["observedAt"] == "2026-11-19T17:30:00Z", "the header's UK local time")
        _ = try TestRecords.validator.validate(e, line: 1).get()
    }

    @Test("leaving reasons: the regulation 8(1) ground or the MIS's words", arguments: [
        ("8(1)(a)", "other-school"), ("8a", "other-school"), ("8 (1) (d)", "ehe"), ("8(1)(h)", "cme"), ("8(1)(m)", "permanent-exclusion"),
        ("8(1)(j)", "other"), ("Elective home education", "ehe"), ("Moved to another school", "other-school"), ("Emigrated", "moved-away"),
        ("Something else", "other"),
    ])
    func leavingReasons(_ ground: String, _ reason: String) {
        #expect(CTFLeavingReason.offRollReason(ground, cmeTransfer: false) == reason)
    }

    @Test("a CME transfer (destination XXX/XXXX) makes the leaver cme whatever the ground, and needs a leaving date")
    func cmeTransfer() throws {
        let header = CTFFixture.header(destLEA: "XXX", destEstab: "XXXX")
        let leaver = CTFFixture.pupil(school: "<LEA>304</LEA><Estab>2001</Estab><EntryDate>2025-09-03</EntryDate><LeavingDate>2026-10-01</LeavingDate><LeavingReason>8(1)(a)</LeavingReason>")
        let (records, _) = try one(leaver, header: header)
        #expect(records.first?["fields"]?["offRollReason"] == "cme")
        let (kept, rejected) = try one(CTFFixture.pupil(), header: header)
        #expect(kept.isEmpty)
        #expect(rejected.first?.field == "fields.offRollOn")
        for lea in ["MAT", "304"] {
            var h = CTFHeader(); h.destination = CTFSchool(lea: lea, estab: lea == "MAT" ? "XXXX" : "CME")
            #expect(h.isCMETransfer)
        }
        var known = CTFHeader(); known.destination = CTFSchool(lea: "304", estab: "4002")
        #expect(!known.isCMETransfer)
    }

    @Test("attendance: attended is possible less absences; the year runs from AttendanceStartDate to the file's date")
    func attendance() throws {
        let years = """
            <Attendance>
              <YearData><Year>2025</Year><LEA>304</LEA><Estab>2001</Estab><SessionsPossible>300</SessionsPossible><SessionsAuthorised>20</SessionsAuthorised><SessionsUnauthorised>12</SessionsUnauthorised><AttendanceStartDate>2025-09-04</AttendanceStartDate></YearData>
              <YearData><Year>2026</Year><SessionsPossible>90</SessionsPossible><SessionsAuthorised>3</SessionsAuthorised><SessionsUnauthorised>0</SessionsUnauthorised></YearData>
              <YearData><Year>2024</Year><LEA>202</LEA><Estab>1234</Estab><SessionsPossible>300</SessionsPossible><SessionsAuthorised>1</SessionsAuthorised><SessionsUnauthorised>1</SessionsUnauthorised></YearData>
            </Attendance>
            """
        let (records, rejected) = try one(CTFFixture.pupil(school: "<LEA>304</LEA><Estab>2001</Estab><EntryDate>2025-09-03</EntryDate>", extra: years))
        #expect(rejected.isEmpty)
        #expect(records.count == 3, "the year at another school (LEA 202) is that school's to send")
        let a = records[1], b = records[2]
        #expect(a["fields"]?.objectValue == ["periodStart": "2025-09-04", "periodEnd": "2026-08-31", "sessionsPossible": 300,
                                             "sessionsAttended": 268, "sessionsUnauthorised": 12])
        #expect(b["fields"]?["periodStart"] == "2026-09-01")
        #expect(b["fields"]?["periodEnd"] == "2026-11-19", "a year in progress runs to the file's date")
        #expect(a["identifiers"]?["address"] == nil, "attendance carries names, DOB and UPN, as the CSV export does")
        #expect(a["localRef"]?.stringValue == records[0]["localRef"]!.stringValue! + "#2025-09-04")
        for r in records { _ = try TestRecords.validator.validate(r, line: 1).get() }
    }

    @Test("a pupil that cannot become a record is named by position, line and field, never by its values")
    func rejectionsNamePlaceNotValue() throws {
        let f = try CTFFixture(); defer { f.remove() }
        let pupils = [
            CTFFixture.pupil(upn: "A950000178301"),
            CTFFixture.pupil(upn: "B801200005001", dob: "02/03/2014"),
            CTFFixture.pupil(upn: "P207000016049", school: "<LEA>304</LEA><Estab>2001</Estab><EntryDate>3 Sept 2025</EntryDate>"),
            CTFFixture.pupil(upn: "H243278544154", surname: String(repeating: "Verylongsurname", count: 100)),
            CTFFixture.pupil(upn: "H801200001001", extra: "<Attendance><YearData><Year>2025</Year><SessionsPossible>10</SessionsPossible><SessionsAuthorised>8</SessionsAuthorised><SessionsUnauthorised>5</SessionsUnauthorised></YearData></Attendance>"),
        ]
        let text = CTFFixture.file(pupils: pupils)
        let r = try CTFFixture.read(try f.write(text))
        #expect(r.records.count == 2, "pupil 1's enrolment and pupil 5's enrolment")
        #expect(r.rejected.map(\.field) == ["identifiers.dateOfBirth", "fields.onRollFrom", "Pupil/Surname", "fields.sessionsAttended"])
        #expect(r.rejected.map { String($0.reason.prefix(9)) } == ["pupil 2: ", "pupil 3: ", "pupil 4: ", "pupil 5: "])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for rejection in r.rejected {
            #expect(lines[rejection.line - 1].contains("<Pupil>"), "line \(rejection.line) is where the pupil starts")
            for value in ["02/03/2014", "3 Sept 2025", "Verylongsurname", "B801200005001"] { #expect(!rejection.reason.contains(value)) }
        }
        #expect(r.rejected[0].reason.contains("DOB") && r.rejected[1].reason.contains("EntryDate") && r.rejected[2].reason.contains("longer than 512 bytes"))
    }

    @Test("a pupil with no SchoolHistory entry for the file's school has no enrolment, but keeps its attendance")
    func noSpellHere() throws {
        let (records, rejected) = try one(CTFFixture.pupil(school: "<LEA>202</LEA><Estab>1234</Estab><EntryDate>2020-09-03</EntryDate>",
                                                           extra: "<Attendance><YearData><Year>2026</Year><SessionsPossible>10</SessionsPossible><SessionsAuthorised>0</SessionsAuthorised><SessionsUnauthorised>0</SessionsUnauthorised></YearData></Attendance>"))
        #expect(rejected.map(\.field) == ["fields.onRollFrom"])
        #expect(records.map { $0["kind"] } == ["school.attendance"])
    }

    @Test("more entries than the limit: the pupil is rejected, not half read")
    func entryLimit() throws {
        let year = "<YearData><Year>2025</Year><SessionsPossible>1</SessionsPossible><SessionsAuthorised>0</SessionsAuthorised><SessionsUnauthorised>0</SessionsUnauthorised></YearData>"
        let (records, rejected) = try one(CTFFixture.pupil(extra: "<Attendance>" + String(repeating: year, count: 70) + "</Attendance>"))
        #expect(records.isEmpty)
        #expect(rejected.count == 65, "the enrolment and the 64 years read")
        #expect(rejected.allSatisfy { $0.field == "Pupil/Attendance/YearData" && $0.reason.contains("more than 64") })
    }
}

@Suite("CTF import: files refused whole")
struct CTFRefusalTests {
    func refusal(_ text: String, sender: CTFSender = CTFFixture.school) throws -> String {
        let f = try CTFFixture(); defer { f.remove() }
        let path = try f.write(text)
        var emitted = 0
        do {
            _ = try CTFFixture.importer(path, sender: sender).read(emit: { _ in emitted += 1; return true }, reject: { _ in })
        } catch {
            return error.message
        }
        Issue.record("not refused; \(emitted) records made")
        return ""
    }

    @Test("another school's file: the header's URN is not this identity's")
    func otherSchool() throws {
        let message = try refusal(CTFFixture.file(header: CTFFixture.header(urn: "100002", estab: "4002"), pupils: [CTFFixture.pupil()]))
        #expect(message.contains("URN 100002") && message.contains("school 100001"))
    }

    @Test("the header's DfE number is not --laestab")
    func otherNumber() throws {
        let message = try refusal(CTFFixture.file(header: CTFFixture.header(estab: "4002"), pupils: [CTFFixture.pupil()]))
        #expect(message.contains("DfE number 3044002") && message.contains("--laestab is 3042001"))
    }

    @Test("a header without URN needs --laestab to be matched")
    func noURN() throws {
        let file = CTFFixture.file(header: CTFFixture.header(urn: nil), pupils: [CTFFixture.pupil()])
        #expect(try refusal(file, sender: CTFSender(urn: "100001", laestab: nil)).contains("--laestab"))
        let f = try CTFFixture(); defer { f.remove() }
        #expect(try CTFFixture.read(try f.write(file)).records.count == 1, "with the number given, it is read")
    }

    @Test("a truncated export, cut anywhere, is refused before a record is sent", arguments: [0.1, 0.5, 0.999])
    func truncated(_ fraction: Double) throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: CTFFixture.sample))
        let cut = String(decoding: whole.prefix(Int(Double(whole.count) * fraction)), as: UTF8.self)
        let message = try refusal(cut)
        #expect(message.contains("truncated"), "\(message)")
    }

    @Test("not a CTF: another root element, or CTfile in a namespace")
    func wrongRoot() throws {
        #expect(try refusal("<?xml version=\"1.0\"?><ATfile><Header/></ATfile>").contains("not <CTfile>"))
        let namespaced = CTFFixture.file(pupils: [CTFFixture.pupil()]).replacingOccurrences(of: "<CTfile>", with: "<CTfile xmlns=\"urn:example:other\">")
        #expect(try refusal(namespaced).contains("namespace"))
        #expect(try refusal("<?xml version=\"1.0\"?><CTfile><CTFpupilData/></CTfile>").contains("no <Header>"))
    }

    @Test("CTF 19 and earlier, or pupils before the header")
    func versionAndOrder() throws {
        #expect(try refusal(CTFFixture.file(header: CTFFixture.header(version: "19.0"), pupils: [])).contains("CTF 19"))
        let early = "<CTfile><CTFpupilData>\(CTFFixture.pupil())</CTFpupilData>\(CTFFixture.header())</CTfile>"
        #expect(try refusal(early).contains("before the <Header>"))
    }

    static let laughs: String = {
        var dtd = "<!DOCTYPE CTfile [\n<!ENTITY lol \"lol\">\n"
        dtd += "<!ENTITY lol1 \"" + String(repeating: "&lol;", count: 10) + "\">\n"
        for i in 2...9 { dtd += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i - 1);", count: 10) + "\">\n" }
        dtd += "]>\n"
        return "<?xml version=\"1.0\"?>\n" + dtd + CTFFixture.file(pupils: [CTFFixture.pupil(surname: "&lol9;")])
            .replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", with: "")
    }()

    @Test("billion laughs: the entity declarations are refused before the parser expands one")
    func billionLaughs() throws {
        let message = try refusal(Self.laughs)
        #expect(message.contains("document type declaration"))
    }

    @Test("an external entity (XXE) is refused, and nothing of the file it names is read")
    func externalEntity() throws {
        let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE CTfile [<!ENTITY xxe SYSTEM \"file:///etc/hostname\">]>\n"
            + CTFFixture.file(pupils: [CTFFixture.pupil(surname: "&xxe;")]).replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", with: "")
        #expect(try refusal(xxe).contains("document type declaration"))
    }

    @Test("a declaration that straddles two reads of the stream is still seen")
    func declarationAcrossReads() throws {
        // XMLParser reads 128 KiB at a time: put "<!DOCTYPE" across the first boundary.
        let prefix = "<?xml version=\"1.0\"?>\n<!--"
        let padding = String(repeating: "x", count: 131_072 - prefix.utf8.count - 3 - 4)
        let text = prefix + padding + "-->\n" + "<!DOCTYPE CTfile [<!ENTITY a \"b\">]>\n" + CTFFixture.file(pupils: [])
            .replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", with: "")
        let at = try #require(text.utf8.firstRange(of: Array("<!DOCTYPE".utf8))).lowerBound
        #expect(text.utf8.distance(from: text.utf8.startIndex, to: at) == 131_069, "the declaration spans bytes 131069-131077")
        #expect(try refusal(text).contains("document type declaration"))
    }

    @Test("a declaration hidden in another encoding: UTF-16, or UTF-7 where < is +ADw-")
    func otherEncodings() throws {
        let f = try CTFFixture(); defer { f.remove() }
        var utf16 = Data([0xFF, 0xFE])
        utf16.append(Self.laughs.data(using: .utf16LittleEndian)!)
        let path = f.dir + "/utf16.xml"
        try utf16.write(to: URL(fileURLWithPath: path))
        #expect(throws: ClientError.self) { try CTFFixture.importer(path).check() }
        do { _ = try CTFFixture.importer(path).check() } catch { #expect(error.message.contains("UTF-16")) }
        let utf7 = "<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE CTfile +AFs-+ADw-!ENTITY a 'b'+AD4-+AF0-+AD4-<CTfile/>"
        #expect(try refusal(utf7).contains("declares the encoding UTF-7"))
        let declared = CTFFixture.file(pupils: [CTFFixture.pupil()]).replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding='utf-8'")
        #expect(try CTFFixture.read(try f.write(declared)).records.count == 1, "UTF-8 declared any way is read")
    }

    @Test("XMLParser alone (the guard aside) still bounds entity expansion: defence in depth")
    func parserAloneBoundsExpansion() {
        // libxml2 stops entity amplification (an "entity reference loop" or amplification error)
        // unless XML_PARSE_HUGE is set, which Foundation does not set. If this ever expands, the
        // guard in GuardedFileStream is the only defence left.
        final class Counter: NSObject, XMLParserDelegate {
            var characters = 0
            func parser(_ parser: XMLParser, foundCharacters string: String) { characters += string.utf8.count }
        }
        let parser = XMLParser(data: Data(Self.laughs.utf8))
        let counter = Counter()
        parser.delegate = counter
        let ok = parser.parse()
        #expect(!ok || counter.characters < 10_000_000, "expanded \(counter.characters) bytes")
    }
}
