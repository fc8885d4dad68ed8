import Foundation
import Testing
@testable import SightlineClient
@testable import SightlineCore

@Suite("Column mappings against the sample exports")
struct ColumnMappingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let observedAt = "2026-11-29T12:00:00Z"
    static let validator = RecordValidator(now: Instant.parse("2026-11-29T12:00:00Z")!)

    func mapping(_ name: String) throws -> ColumnMapping {
        try ColumnMapping.load(path: Self.root.appendingPathComponent("ops/mappings/\(name).yaml").path)
    }

    func sample(_ path: String) throws -> CSVTable {
        try CSVTable(text: String(contentsOf: Self.root.appendingPathComponent("ops/sample-data/\(path)"), encoding: .utf8))
    }

    func convert(_ mapping: ColumnMapping, _ table: CSVTable, row: Int = 0) throws -> JSONValue {
        let r = table.rows[row]
        return try mapping.record(cells: r.cells, header: table.header, line: r.line, observedAt: Self.observedAt).get()
    }

    struct Sample: Sendable, CustomTestStringConvertible {
        let mapping, file: String
        let kind: RecordKind
        var testDescription: String { file }
    }

    @Test("the first data row of each sample export converts to a record the gateway accepts", arguments: [
        Sample(mapping: "school-enrolment", file: "school-100001/enrolment.csv", kind: .schoolEnrolment),
        Sample(mapping: "school-attendance", file: "school-100001/attendance.csv", kind: .schoolAttendance),
        Sample(mapping: "housing-tenancy", file: "housing/tenancies.csv", kind: .housingTenancy),
    ])
    func firstRowValidates(_ s: Sample) throws {
        let mapping = try mapping(s.mapping)
        #expect(mapping.kind == s.kind)
        let table = try sample(s.file)
        try mapping.check(header: table.header)
        let value = try convert(mapping, table)
        let record = try Self.validator.validate(value, line: table.rows[0].line).get()
        #expect(record.kind == s.kind)
        #expect(record.observedAt == Instant.parse(Self.observedAt))
    }

    @Test("enrolment: dd/MM/yyyy dates become ISO, Y/N become booleans, SEN codes map")
    func enrolmentRow() throws {
        // 000001,K304200122000,N'Diaye,Oliver,04/06/2018,HA8 0DU,05/09/2022,,,N,N,N,Y
        let value = try convert(try mapping("school-enrolment"), try sample("school-100001/enrolment.csv"))
        #expect(value.objectValue?["localRef"] == .string("000001"))
        let ids = try #require(value.objectValue?["identifiers"]?.objectValue)
        #expect(ids["upn"] == .string("K304200122000"))
        #expect(ids["dateOfBirth"] == .string("2018-06-04"))
        #expect(ids["familyName"] == .string("N'Diaye"))
        #expect(ids["postcode"] == .string("HA8 0DU"))
        let fields = try #require(value.objectValue?["fields"]?.objectValue)
        #expect(fields == ["onRollFrom": .string("2022-09-05"), "senStatus": .string("none"), "youngCarer": .bool(false),
                           "freeSchoolMeals": .bool(false), "partTimeTimetable": .bool(true)],
                "blank Leaving Date and Reason for Leaving are left out")
    }

    @Test("attendance: localRef is <Adno>#<Period Start> with the admission number still zero-padded")
    func attendanceLocalRef() throws {
        // 000001,K304200122000,N'Diaye,Oliver,04/06/2018,01/06/2026,22/07/2026,74,43,1
        let value = try convert(try mapping("school-attendance"), try sample("school-100001/attendance.csv"))
        #expect(value.objectValue?["localRef"] == .string("000001#01/06/2026"))
        let fields = try #require(value.objectValue?["fields"]?.objectValue)
        #expect(fields == ["periodStart": .string("2026-06-01"), "periodEnd": .string("2026-07-22"),
                           "sessionsPossible": .number(74), "sessionsAttended": .number(43), "sessionsUnauthorised": .number(1)])
    }

    @Test("housing: an NHS number written with spaces is passed on and validates")
    func housingRow() throws {
        // HT-0000001-1,Oliver,N'Diye,04/06/2018,983 202 3947,HA8 0DU,15/06/2026,,Y,N
        let value = try convert(try mapping("housing-tenancy"), try sample("housing/tenancies.csv"))
        let record = try Self.validator.validate(value, line: 2).get()
        #expect(record.identifiers.nhsNumber?.digits == "9832023947")
        #expect(record.fields == ["tenancyFrom": .string("2026-06-15"), "temporaryAccommodation": .bool(true),
                                  "movedOutOfArea": .bool(false)])
    }

    static let enrolmentHeader = ["Adno", "UPN", "Legal Surname", "Legal Forename", "DOB", "Postcode", "Entry Date",
                                  "Leaving Date", "Reason for Leaving", "SEN Status", "Young Carer", "FSM", "Part-time Timetable"]

    func leaver(reason: String) -> [String] {
        ["000045", "H801200001001", "White", "Martín", "06/03/2019", "NW6 6WQ", "04/09/2023", "01/07/2026", reason, "K", "N", "N", "N"]
    }

    @Test("a values map translates the MIS wording: Moved away -> moved-away")
    func valuesMap() throws {
        let value = try mapping("school-enrolment").record(cells: leaver(reason: "Moved away"), header: Self.enrolmentHeader,
                                                               line: 46, observedAt: Self.observedAt).get()
        #expect(value.objectValue?["fields"]?.objectValue?["offRollReason"] == .string("moved-away"))
        #expect(value.objectValue?["fields"]?.objectValue?["senStatus"] == .string("support"))
        let record = try Self.validator.validate(value, line: 46).get()
        #expect(record.fields["offRollOn"] == .string("2026-07-01"))
    }

    @Test("the real export's Moved away rows convert too")
    func movedAwayInSample() throws {
        let mapping = try mapping("school-enrolment")
        let table = try sample("school-100001/enrolment.csv")
        let column = try #require(table.header.firstIndex(of: "Reason for Leaving"))
        let row = try #require(table.rows.first { $0.cells[column] == "Moved away" })
        let value = try mapping.record(cells: row.cells, header: table.header, line: row.line, observedAt: Self.observedAt).get()
        #expect(value.objectValue?["fields"]?.objectValue?["offRollReason"] == .string("moved-away"))
    }

    @Test("a value missing from the values map is a rejection naming the field, not the value")
    func unknownValue() throws {
        let result = try mapping("school-enrolment").record(cells: leaver(reason: "Emigrated"), header: Self.enrolmentHeader,
                                                            line: 12, observedAt: Self.observedAt)
        guard case .failure(let r) = result else { Issue.record("converted"); return }
        #expect(r.field == "fields.offRollReason")
        #expect(r.line == 12)
        #expect(r.localRef == "000045")
        #expect(!r.reason.contains("Emigrated"))
    }

    @Test("a cell that does not convert is a rejection naming the field", arguments: [
        (6, "31/02/2026", "fields.onRollFrom"), (6, "2026-09-04", "fields.onRollFrom"),
        (10, "Maybe", "fields.youngCarer"), (4, "6/3/2019", "identifiers.dateOfBirth"),
    ])
    func badCell(_ index: Int, _ text: String, _ field: String) throws {
        var cells = leaver(reason: "Moved away")
        cells[index] = text
        let result = try mapping("school-enrolment").record(cells: cells, header: Self.enrolmentHeader, line: 3, observedAt: Self.observedAt)
        guard case .failure(let r) = result else { Issue.record("converted"); return }
        #expect(r.field == field)
        #expect(!r.reason.contains(text))
    }

    @Test("a header without a mapped column is an error naming the column")
    func missingColumn() throws {
        let mapping = try mapping("school-attendance")
        let header = ["Adno", "UPN", "Surname", "Forename", "Period Start", "Period End", "Possible", "Present", "Unauthorised"]
        do {
            try mapping.check(header: header)
            Issue.record("no error")
        } catch {
            #expect(error.message.contains("'DOB'"), "\(error.message)")
            #expect(!error.message.contains("'Adno'"))
        }
        let noAdno = header.filter { $0 != "Adno" } + ["DOB"]
        do {
            try mapping.check(header: noAdno)
            Issue.record("no error")
        } catch {
            #expect(error.message.contains("'Adno'"), "a template's columns are checked too: \(error.message)")
        }
    }

    func loadError(_ yaml: String) throws -> SightlineError? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-tests-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken-mapping.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try ColumnMapping.load(path: path); return nil } catch { return error }
    }

    @Test("a mapping naming a field the kind does not have fails to load, naming the line")
    func unknownField() throws {
        let error = try #require(try loadError("""
            kind: housing.tenancy
            date-format: dd/MM/yyyy
            columns:
              localRef: Tenancy Ref
              identifiers.nhsNumber: NHS Number
              fields.tenancyFrom: Tenancy Start
              fields.rentArrears: Arrears
            """))
        #expect(error.code == .mapping)
        #expect(error.message.contains("broken-mapping.yaml:7:"), "\(error.message)")
        #expect(error.message.contains("fields.rentArrears"))
    }

    @Test("a mapping naming a field in block style names the key's line", )
    func unknownFieldBlockStyle() throws {
        let error = try #require(try loadError("""
            kind: school.enrolment
            columns:
              localRef: Adno
              fields.leavingReason:
                column: Reason for Leaving
                values: {Other: other}
            """))
        #expect(error.message.contains("broken-mapping.yaml:4:"), "\(error.message)")
    }

    @Test("a mapping without localRef fails to load")
    func noLocalRef() throws {
        let error = try #require(try loadError("""
            kind: housing.tenancy
            columns:
              identifiers.nhsNumber: NHS Number
            """))
        #expect(error.message.contains("localRef"))
    }
}
