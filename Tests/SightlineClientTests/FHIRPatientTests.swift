import Foundation
import Testing
@testable import SightlineClient
@testable import SightlineCore

@Suite("FHIR R4 Patient import")
struct FHIRPatientTests {
    static let sampleDir = TestRecords.root.appendingPathComponent("ops/sample-data/nhs").path
    let patients = FHIRPatient(observedAt: "2026-11-20T09:00:00Z")

    func record(_ json: String, line: Int = 1) -> Result<JSONValue, RecordRejection> { patients.record(Array(json.utf8), line: line) }

    @Test("the sample Patients are the sample GP registrations, line for line")
    func sampleIsTheNDJSON() throws {
        let fhir = try Submitter.prepare(file: Self.sampleDir + "/gp-registrations.fhir.ndjson", format: "fhir", kind: .gpRegistration,
                                         mapping: nil, observedAt: "2026-11-20T09:00:00Z")
        let ndjson = try Submitter.prepare(file: Self.sampleDir + "/gp-registrations.ndjson", format: "ndjson", kind: .gpRegistration,
                                           mapping: nil, observedAt: "2026-11-20T09:00:00Z")
        #expect(fhir.records.count + fhir.rejected.count == ndjson.records.count)
        let expected = Dictionary(uniqueKeysWithValues: try ndjson.records.map { r in
            (r.line, try JSONDecoder().decode(JSONValue.self, from: r.json))
        })
        for r in fhir.records {
            var want = try #require(expected[r.line]).objectValue!
            var fields = want["fields"]!.objectValue!
            fields["youngCarer"] = nil    // a practice's carers register has no place in a Patient
            want["fields"] = .object(fields)
            #expect(try JSONDecoder().decode(JSONValue.self, from: r.json) == .object(want), "line \(r.line)")
        }
        // The NDJSON lines without a practice (faults.csv: reject-missing-field fields.practice) are
        // refused here, naming the FHIR element.
        for r in fhir.rejected {
            #expect(r.field == "generalPractitioner")
            #expect(expected[r.line]?["fields"]?["practice"] == nil)
        }
        #expect(fhir.rejected.count < 20)
    }

    @Test("official name, home address with its UPRN, the current registration by ODS code")
    func mapping() throws {
        let patient = """
            {"resourceType":"Patient","id":"a1b2c3","meta":{"lastUpdated":"2026-10-01T12:00:00+01:00"},
             "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"},{"system":"https://example.org/practice-id","value":"P-77"}],
             "name":[{"use":"usual","family":"Okafor","given":["Mara"]},{"use":"official","family":"Okafor","given":["Amara","Grace"]}],
             "birthDate":"2014-03-02",
             "address":[{"use":"home","period":{"end":"2020-01-01"},"line":["1 Old Road"],"postalCode":"SE1 4PY"},
                        {"use":"home","line":["Flat 2, 14 Kenton Road","Kenton"],"postalCode":"NW6 4DP","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey","extension":[{"url":"type","valueCoding":{"code":"UPRN"}},{"url":"value","valueString":"202004879642"}]}]}],
             "generalPractitioner":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y23456","period":{"start":"2015-01-01","end":"2019-12-31"}}},
                                    {"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345","period":{"start":"2020-01-06T10:00:00+00:00"}}}]}
            """.replacingOccurrences(of: "\n", with: "")
        let r = try record(patient).get()
        #expect(r["localRef"] == "a1b2c3")
        #expect(r["observedAt"] == "2026-10-01T11:00:00Z")
        #expect(r["identifiers"]?.objectValue == ["nhsNumber": "9434765919", "familyName": "Okafor", "givenName": "Amara Grace", "dateOfBirth": "2014-03-02",
                                                  "address": "Flat 2, 14 Kenton Road", "postcode": "NW6 4DP", "uprn": "202004879642"])
        #expect(r["fields"]?.objectValue == ["practice": "Y12345", "registeredFrom": "2020-01-06"])
        _ = try TestRecords.validator.validate(r, line: 1).get()
        // PDS writes the NHS number as Patient.id: the export's own identifier is the reference then.
        let pds = patient.replacingOccurrences(of: "\"id\":\"a1b2c3\"", with: "\"id\":\"9434765919\"")
        #expect(try record(pds).get()["localRef"] == "P-77")
    }

    @Test("bad lines are rejected with their line and the element, never a value", arguments: [
        ("{\"resourceType\":\"Patient\",", "", "not a JSON object"),
        ("[1,2]", "", "JSON object"),
        ("{\"resourceType\":\"Observation\",\"id\":\"o1\"}", "resourceType", "Patient"),
        ("{\"resourceType\":\"Patient\",\"id\":\"9434765919\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9434765919\"}]}", "id", "NHS number"),
        ("{\"resourceType\":\"Patient\",\"id\":\"p9\",\"generalPractitioner\":[{\"reference\":\"Organization/Y12345\"}]}", "generalPractitioner", "ODS"),
    ])
    func badLines(_ json: String, _ field: String, _ says: String) {
        guard case .failure(let r) = record(json, line: 7) else { Issue.record("accepted"); return }
        #expect(r.line == 7)
        #expect(r.field == field)
        #expect(r.reason.contains(says), "\(r.reason)")
        #expect(!r.reason.contains("9434765919") && !r.reason.contains("Y12345"))
    }

    @Test("what only the gateway can judge is passed on for it to judge: a partial birth date, a bad check digit")
    func leftToTheGateway() throws {
        let json = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9434765910\"}],\"birthDate\":\"2014-03\",\"generalPractitioner\":[{\"identifier\":{\"system\":\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"Y12345\",\"period\":{\"start\":\"2014-03-20\"}}}]}"
        let r = try record(json).get()
        guard case .failure(let rejection) = TestRecords.validator.validate(r, line: 1) else { Issue.record("valid"); return }
        #expect(rejection.field == "identifiers.nhsNumber")
    }
}
