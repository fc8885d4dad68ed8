import Foundation

/// Hand-made records with identifiers from DOMAIN.md's published vectors.
enum SampleRecords {
    static func enrolment(_ localRef: String = "ADM-0042", upn: String = "H801200001001", given: String = "Amara",
                          family: String = "Okafor", dob: String = "2014-03-02", extraFields: String = "") -> String {
        """
        {"kind":"school.enrolment","localRef":"\(localRef)","observedAt":"2026-09-08T08:30:00Z","identifiers":{"upn":"\(upn)","givenName":"\(given)","familyName":"\(family)","dateOfBirth":"\(dob)","postcode":"NW6 4DP"},"fields":{"onRollFrom":"2025-09-03","partTimeTimetable":false,"senStatus":"support","youngCarer":true\(extraFields)}}
        """
    }

    static func gp(_ localRef: String = "GP-1", nhs: String = "9434765919") -> String {
        """
        {"kind":"nhs.gp-registration","localRef":"\(localRef)","observedAt":"2026-11-01T09:00:00Z","identifiers":{"nhsNumber":"\(nhs)","givenName":"Amara","familyName":"Okafor","dateOfBirth":"2014-03-02","postcode":"NW6 4DP"},"fields":{"practice":"Y12345","registeredFrom":"2014-03-20"}}
        """
    }

    static func police(_ localRef: String = "MPS-1") -> String {
        """
        {"kind":"police.notification","localRef":"\(localRef)","observedAt":"2026-11-01T09:00:00Z","identifiers":{"nhsNumber":"6541003238"},"fields":{"category":"domestic-abuse","occurredAt":"2026-10-31T22:10:00Z","childPresent":true}}
        """
    }
}

struct Receipt: Decodable {
    struct Rejection: Decodable { var line: Int; var field: String; var reason: String; var localRef: String? }
    var submissionId: String
    var records: Int
    var accepted: Int
    var created: Int
    var updated: Int
    var rejectedCount: Int
    var rejected: [Rejection]
    var auditIndex: Int64
    var replayed: Bool
    var rules: [String: Int]
    var droppedFields: [String: [String]]
    var policyVersion: String
}

struct ErrorBody: Decodable { var error: String; var message: String }
