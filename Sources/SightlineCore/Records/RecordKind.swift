/// The record kinds of v1 and their schemas: the one place a kind's fields are defined.
public enum RecordKind: String, CaseIterable, Codable, Sendable {
    case schoolEnrolment = "school.enrolment"
    case schoolAttendance = "school.attendance"
    case schoolExclusion = "school.exclusion"
    case gpRegistration = "nhs.gp-registration"
    case policeNotification = "police.notification"
    case housingTenancy = "housing.tenancy"
    case laRegister = "la.register"

    /// The role whose participants submit this kind (the policy may narrow it further, never widen).
    public var sourceRole: Role {
        switch self {
        case .schoolEnrolment, .schoolAttendance, .schoolExclusion: .school
        case .gpRegistration: .nhs
        case .policeNotification: .police
        case .housingTenancy: .housing
        case .laRegister: .la
        }
    }

    public var schema: RecordSchema {
        switch self {
        case .schoolEnrolment:
            RecordSchema(fields: [
                .init("onRollFrom", .date, required: true),
                .init("offRollOn", .date),
                .init("offRollReason", .oneOf(["other-school", "ehe", "moved-away", "cme", "permanent-exclusion", "other"])),
                .init("partTimeTimetable", .boolean),
                .init("senStatus", .oneOf(["none", "support", "ehcp"])),
                .init("youngCarer", .boolean),
                .init("freeSchoolMeals", .boolean),
            ], checks: [.notBefore("offRollOn", "onRollFrom"), .requiresWith("offRollReason", "offRollOn")])
        case .schoolAttendance:
            RecordSchema(fields: [
                .init("periodStart", .date, required: true),
                .init("periodEnd", .date, required: true),
                .init("sessionsPossible", .integer(0...1000), required: true),
                .init("sessionsAttended", .integer(0...1000), required: true),
                .init("sessionsUnauthorised", .integer(0...1000), required: true),
            ], checks: [.notBefore("periodEnd", "periodStart"),
                        .atMost("sessionsAttended", "sessionsPossible"),
                        .atMost("sessionsUnauthorised", "sessionsPossible")])
        case .schoolExclusion:
            RecordSchema(fields: [
                .init("category", .oneOf(["suspension", "permanent", "internal", "managed-move"]), required: true),
                .init("startDate", .date, required: true),
                .init("days", .integer(0...400)),
            ])
        case .gpRegistration:
            RecordSchema(fields: [
                .init("practice", .odsPracticeCode, required: true),
                .init("registeredFrom", .date, required: true),
                .init("deregisteredOn", .date),
                .init("youngCarer", .boolean),  // on the practice's carers register
            ], checks: [.notBefore("deregisteredOn", "registeredFrom")])
        case .policeNotification:
            RecordSchema(fields: [
                .init("category", .oneOf(["domestic-abuse", "missing-episode", "concern"]), required: true),
                .init("occurredAt", .instant, required: true),
                .init("childPresent", .boolean),
            ])
        case .housingTenancy:
            RecordSchema(fields: [
                .init("tenancyFrom", .date, required: true),
                .init("tenancyTo", .date),
                .init("temporaryAccommodation", .boolean),
                .init("movedOutOfArea", .boolean),
            ], checks: [.notBefore("tenancyTo", "tenancyFrom")])
        case .laRegister:
            RecordSchema(fields: [
                .init("register", .oneOf(["ehe", "cnis", "cin", "cp"]), required: true),
                .init("from", .date, required: true),
                .init("to", .date),
            ], checks: [.notBefore("to", "from")])
        }
    }
}

/// The fields of one record kind and the checks across them.
public struct RecordSchema: Sendable {
    public let fields: [FieldSpec]
    public let checks: [CrossFieldCheck]

    init(fields: [FieldSpec], checks: [CrossFieldCheck] = []) {
        self.fields = fields
        self.checks = checks
    }

    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }
    public var fieldNames: [String] { fields.map(\.name) }
}

public struct FieldSpec: Sendable {
    public enum FieldType: Sendable, Equatable {
        case date                       // "YYYY-MM-DD"
        case instant                    // ISO 8601 with offset
        case boolean
        case integer(ClosedRange<Int>)
        case oneOf([String])
        case odsPracticeCode            // a GP practice's ODS code: one letter and five digits
    }

    public let name: String
    public let type: FieldType
    public let required: Bool

    init(_ name: String, _ type: FieldType, required: Bool = false) {
        self.name = name; self.type = type; self.required = required
    }
}

public enum CrossFieldCheck: Sendable {
    /// The first date field, when present, is on or after the second.
    case notBefore(String, String)
    /// The first integer field is at most the second.
    case atMost(String, String)
    /// The first field may be present only when the second is.
    case requiresWith(String, String)
}
