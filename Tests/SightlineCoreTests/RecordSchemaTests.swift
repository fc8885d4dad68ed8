import Foundation
import Testing
@testable import SightlineCore

@Suite("Record kind schemas")
struct RecordSchemaTests {
    let validator = RecordValidator(now: Fixture.now)

    /// A value of the right type for a field, chosen so that the kind's cross-field checks pass.
    static func sample(_ type: FieldSpec.FieldType) -> JSONValue {
        switch type {
        case .date: .string("2026-01-05")
        case .instant: .string("2026-01-05T10:00:00Z")
        case .boolean: .bool(true)
        case .integer(let range): .number(Double(range.lowerBound))
        case .oneOf(let allowed): .string(allowed[0])
        case .odsPracticeCode: .string("Y12345")
        }
    }

    static func minimalRecord(_ kind: RecordKind) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for spec in kind.schema.fields where spec.required { fields[spec.name] = sample(spec.type) }
        return .object([
            "kind": .string(kind.rawValue), "localRef": .string("REF-1"), "observedAt": .string("2026-11-01T10:00:00Z"),
            "identifiers": .object(["nhsNumber": .string("9434765919")]), "fields": .object(fields),
        ])
    }

    @Test("every kind has a schema with at least one required field", arguments: RecordKind.allCases)
    func schemaHasRequiredFields(_ kind: RecordKind) {
        #expect(kind.schema.fields.contains { $0.required })
        #expect(Set(kind.schema.fieldNames).count == kind.schema.fields.count, "field names are unique")
    }

    @Test("a record with only the required fields validates", arguments: RecordKind.allCases)
    func minimalRecordValidates(_ kind: RecordKind) throws {
        let record = try validator.validate(Self.minimalRecord(kind), line: 1).get()
        #expect(record.kind == kind)
    }

    @Test("each missing required field is reported as fields.<name>: required", arguments: RecordKind.allCases)
    func missingRequiredField(_ kind: RecordKind) throws {
        for spec in kind.schema.fields where spec.required {
            let value = Self.minimalRecord(kind).setting("fields.\(spec.name)", to: nil)
            guard case .failure(let r) = validator.validate(value, line: 3) else {
                Issue.record("\(kind.rawValue) accepted without \(spec.name)")
                continue
            }
            #expect(r.field == "fields.\(spec.name)")
            #expect(r.reason == "required")
        }
    }

    @Test("a required field given as null counts as missing")
    func nullIsMissing() throws {
        let value = Self.minimalRecord(.laRegister).setting("fields.register", to: .null)
        guard case .failure(let r) = validator.validate(value, line: 1) else { Issue.record("accepted"); return }
        #expect(r.field == "fields.register")
    }

    @Test("the kinds' source roles match DESIGN.md")
    func sourceRoles() {
        #expect(RecordKind.schoolEnrolment.sourceRole == .school)
        #expect(RecordKind.schoolAttendance.sourceRole == .school)
        #expect(RecordKind.schoolExclusion.sourceRole == .school)
        #expect(RecordKind.gpRegistration.sourceRole == .nhs)
        #expect(RecordKind.policeNotification.sourceRole == .police)
        #expect(RecordKind.housingTenancy.sourceRole == .housing)
        #expect(RecordKind.laRegister.sourceRole == .la)
    }
}

@Suite("Canonical field values")
struct CanonicalFieldTests {
    let validator = RecordValidator(now: Fixture.now)

    @Test("an instant with an offset is stored in UTC; an organisation code in upper case")
    func canonicalForms() throws {
        let police = RecordSchemaTests.minimalRecord(.policeNotification)
            .setting("fields.occurredAt", to: .string("2026-11-01T23:15:00+01:00"))
        #expect(try validator.validate(police, line: 1).get().fields["occurredAt"] == .string("2026-11-01T22:15:00Z"))
        let gp = RecordSchemaTests.minimalRecord(.gpRegistration).setting("fields.practice", to: .string("y12345"))
        #expect(try validator.validate(gp, line: 1).get().fields["practice"] == .string("Y12345"))
    }

    @Test("an organisation code is letters and digits, at most 10", arguments: ["Y-12345", "", "Y1234567890", "Y 12345"])
    func badCode(_ code: String) throws {
        let gp = RecordSchemaTests.minimalRecord(.gpRegistration).setting("fields.practice", to: .string(code))
        guard case .failure(let r) = validator.validate(gp, line: 1) else { Issue.record("accepted"); return }
        #expect(r.field == "fields.practice")
    }

    @Test("dates far outside a child's record are refused", arguments: ["1989-12-31", "2028-01-01"])
    func dateRange(_ date: String) throws {
        let value = Fixture.designExample.setting("fields.onRollFrom", to: .string(date))
        guard case .failure(let r) = validator.validate(value, line: 1) else { Issue.record("accepted"); return }
        #expect(r.field == "fields.onRollFrom")
    }

    @Test("an impossible occurredAt is rejected, not stored as another day")
    func impossibleInstantRejected() throws {
        let police = RecordSchemaTests.minimalRecord(.policeNotification)
            .setting("fields.occurredAt", to: .string("2026-02-30T10:00:00Z"))
        guard case .failure(let r) = validator.validate(police, line: 1) else { Issue.record("accepted"); return }
        #expect(r.field == "fields.occurredAt")
        let observed = RecordSchemaTests.minimalRecord(.policeNotification).setting("observedAt", to: .string("2026-11-31T10:00:00Z"))
        guard case .failure(let o) = validator.validate(observed, line: 1) else { Issue.record("accepted"); return }
        #expect(o.field == "observedAt")
    }
}
