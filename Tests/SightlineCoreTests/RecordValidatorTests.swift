import Foundation
import Testing
@testable import SightlineCore

@Suite("Record validation")
struct RecordValidatorTests {
    let validator = RecordValidator(now: Fixture.now)

    func rejection(_ value: JSONValue, line: Int = 7) -> RecordRejection? {
        if case .failure(let r) = validator.validate(value, line: line) { return r }
        return nil
    }

    static let attendance = json("""
        {"kind":"school.attendance","localRef":"000001#01/06/2026","observedAt":"2026-11-29T09:00:00Z",
         "identifiers":{"upn":"H801200001001"},
         "fields":{"periodStart":"2026-06-01","periodEnd":"2026-07-22","sessionsPossible":74,
                   "sessionsAttended":43,"sessionsUnauthorised":1}}
        """)

    @Test("the DESIGN.md example record validates, with identifiers normalised")
    func designExample() throws {
        let record = try validator.validate(Fixture.designExample, line: 1).get()
        #expect(record.kind == .schoolEnrolment)
        #expect(record.localRef == "ADM-0042")
        #expect(record.observedAt == Instant.parse("2026-09-08T08:30:00Z"))
        #expect(record.identifiers.upn?.value == "H801200001001")
        #expect(record.identifiers.givenName == "amara")
        #expect(record.identifiers.familyName == "okafor")
        #expect(record.identifiers.dateOfBirth == CivilDate(iso: "2014-03-02"))
        #expect(record.identifiers.postcode?.district == "NW6")
        #expect(record.fields == ["onRollFrom": .string("2025-09-03"), "partTimeTimetable": .bool(false),
                                  "senStatus": .string("support"), "youngCarer": .bool(true)])
    }

    @Test("an attendance record with whole numbers validates")
    func attendanceValidates() throws {
        let record = try validator.validate(Self.attendance, line: 1).get()
        #expect(record.fields["sessionsPossible"] == .number(74))
    }

    @Test("a name and date of birth without NHS number or UPN is enough")
    func nameAndBirthDateSuffice() throws {
        let value = Fixture.designExample.setting("identifiers.upn", to: nil)
        let record = try validator.validate(value, line: 1).get()
        #expect(record.identifiers.hasNameAndBirthDate)
    }

    struct Failure: Sendable, CustomTestStringConvertible {
        let name: String
        let record: JSONValue
        let field: String
        /// Text that must not appear in the reason (an identifier or the value at fault).
        let offending: [String]
        var testDescription: String { name }

        init(_ name: String, _ record: JSONValue, field: String, offending: [String] = []) {
            self.name = name; self.record = record; self.field = field; self.offending = offending
        }
    }

    static let example = Fixture.designExample
    static let failures: [Failure] = [
        Failure("unknown kind", example.setting("kind", to: .string("school.register")), field: "kind",
                offending: ["school.register"]),
        Failure("missing localRef", example.setting("localRef", to: nil), field: "localRef"),
        Failure("empty localRef", example.setting("localRef", to: .string("")), field: "localRef"),
        Failure("observedAt without time zone", example.setting("observedAt", to: .string("2026-10-01T09:15:00")),
                field: "observedAt", offending: ["2026-10-01T09:15:00"]),
        Failure("observedAt a week ahead", example.setting("observedAt", to: .string("2026-12-06T09:15:00Z")),
                field: "observedAt", offending: ["2026-12-06"]),
        Failure("bad NHS number", example.setting("identifiers.nhsNumber", to: .string("9434765918")),
                field: "identifiers.nhsNumber", offending: ["9434765918", "943 476 5918", "94347659"]),
        Failure("bad UPN", example.setting("identifiers.upn", to: .string("Z801200001001")),
                field: "identifiers.upn", offending: ["Z801200001001", "801200001001"]),
        Failure("bad postcode", example.setting("identifiers.postcode", to: .string("NW6 4CP")),
                field: "identifiers.postcode", offending: ["NW6 4CP", "4CP"]),
        Failure("NHS number given as a number", example.setting("identifiers.nhsNumber", to: .number(9434765919)),
                field: "identifiers.nhsNumber", offending: ["9434765919"]),
        Failure("no identifiers object", example.setting("identifiers", to: nil), field: "identifiers"),
        Failure("date of birth in the future", example.setting("identifiers.dateOfBirth", to: .string("2027-01-04")),
                field: "identifiers.dateOfBirth", offending: ["2027-01-04", "2027"]),
        Failure("date of birth impossible", example.setting("identifiers.dateOfBirth", to: .string("2014-02-30")),
                field: "identifiers.dateOfBirth", offending: ["2014-02-30"]),
        Failure("unknown field", example.setting("fields.favouriteColour", to: .string("teal")),
                field: "fields", offending: ["teal", "favouriteColour"]),
        Failure("string for a boolean", example.setting("fields.youngCarer", to: .string("yes")),
                field: "fields.youngCarer", offending: ["yes"]),
        Failure("enum value not allowed", example.setting("fields.senStatus", to: .string("statemented")),
                field: "fields.senStatus", offending: ["statemented"]),
        Failure("sessionsAttended above sessionsPossible", attendance.setting("fields.sessionsAttended", to: .number(75)),
                field: "fields.sessionsAttended", offending: ["75"]),
        Failure("fractional sessions", attendance.setting("fields.sessionsUnauthorised", to: .number(1.5)),
                field: "fields.sessionsUnauthorised", offending: ["1.5"]),
        Failure("offRollOn before onRollFrom", example.setting("fields.offRollOn", to: .string("2025-09-02")),
                field: "fields.offRollOn", offending: ["2025-09-02"]),
        Failure("offRollReason without offRollOn", example.setting("fields.offRollReason", to: .string("moved-away")),
                field: "fields.offRollReason"),
        Failure("required field missing", example.setting("fields.onRollFrom", to: nil), field: "fields.onRollFrom"),
        Failure("periodEnd before periodStart", attendance.setting("fields.periodEnd", to: .string("2026-05-31")),
                field: "fields.periodEnd", offending: ["2026-05-31"]),
    ]

    @Test("each problem names its field and never echoes the value", arguments: failures)
    func rejected(_ failure: Failure) throws {
        let r = try #require(rejection(failure.record, line: 7))
        #expect(r.field == failure.field)
        #expect(r.line == 7)
        #expect(!r.reason.isEmpty)
        for value in failure.offending {
            #expect(!r.reason.contains(value), "reason '\(r.reason)' contains '\(value)'")
        }
    }

    @Test("a rejection carries the record's localRef so the agency can find the row")
    func rejectionCarriesLocalRef() throws {
        let r = try #require(rejection(Fixture.designExample.setting("fields.senStatus", to: .string("x"))))
        #expect(r.localRef == "ADM-0042")
    }

    @Test("a name without a date of birth or a place, and no NHS number or UPN, is rejected")
    func nameWithoutBirthDate() throws {
        let value = Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.dateOfBirth", to: nil)
            .setting("identifiers.postcode", to: nil)
        let r = try #require(rejection(value))
        #expect(r.field.hasPrefix("identifiers"))
        #expect(r.reason.contains("nhsNumber"))
        #expect(!r.reason.lowercased().contains("amara"))
        #expect(!r.reason.lowercased().contains("okafor"))
    }

    @Test("records without enough identifiers are rejected on the field \"identifiers\"",
          
          arguments: [
            Fixture.designExample.setting("identifiers", to: .object([:])),
            Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.dateOfBirth", to: nil).setting("identifiers.postcode", to: nil),
            Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.givenName", to: nil).setting("identifiers.postcode", to: nil),
            Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.familyName", to: nil).setting("identifiers.postcode", to: nil),
          ])
    func notEnoughIdentifiersField(_ value: JSONValue) throws {
        let r = try #require(rejection(value))
        #expect(r.field == "identifiers")
    }

    @Test("partial identifiers that can still identify a child are accepted", arguments: [
        Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.givenName", to: nil),          // family + dob + postcode
        Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.dateOfBirth", to: nil),        // names + postcode
        Fixture.designExample.setting("identifiers.upn", to: nil).setting("identifiers.postcode", to: nil)
            .setting("identifiers.dateOfBirth", to: nil).setting("identifiers.uprn", to: .string("000100023336956")),
    ])
    func partialIdentifiers(_ value: JSONValue) throws {
        let valid = value.objectValue?["identifiers"]?.objectValue?["uprn"] == nil
        #expect((rejection(value) == nil) == valid, "a 15-digit UPRN is refused; the others are accepted")
    }

    @Test("address and uprn are identifiers: normalised, never echoed")
    func addressAndUPRN() throws {
        let record = try RecordValidator(now: Fixture.now).validate(
            Fixture.designExample.setting("identifiers.address", to: .string("Flat 2, 14 Kilburn High Rd"))
                .setting("identifiers.uprn", to: .string("000100023336")), line: 1).get()
        #expect(record.identifiers.uprn == "100023336")
        #expect(record.identifiers.address == "Flat 2, 14 Kilburn High Rd")
        let r = try #require(rejection(Fixture.designExample.setting("identifiers.uprn", to: .string("12a"))))
        #expect(r.field == "identifiers.uprn" && !r.reason.contains("12a"))
    }

    @Test("a value that is not an object is rejected as a whole")
    func notAnObject() throws {
        let r = try #require(rejection(.array([])))
        #expect(r.field == "")
        #expect(!r.reason.isEmpty)
    }
}
