import Foundation
import SightlineCore

/// `sightline submit FILE --format fhir`: NDJSON of FHIR R4 `Patient` resources, one a line, as
/// NHS bulk exports write them, as `nhs.gp-registration` records.
///
/// | record | from the Patient |
/// |---|---|
/// | localRef | `id` (the exporting system's resource id); if that is the NHS number (as PDS writes it), the first `identifier` of another system |
/// | observedAt | `meta.lastUpdated`, else the file's modification time |
/// | identifiers.nhsNumber | `identifier` with system `https://fhir.nhs.uk/Id/nhs-number` |
/// | identifiers.familyName, givenName | `name` with use `official` (else `usual`, else the first): `family`; `given` joined by spaces |
/// | identifiers.dateOfBirth | `birthDate` |
/// | identifiers.address, postcode, uprn | `address` with use `home` and no `period.end` (else the first): `line[0]`, `postalCode`, the UK Core AddressKey extension of type UPRN |
/// | fields.practice | `generalPractitioner.identifier.value` with system `https://fhir.nhs.uk/Id/ods-organization-code`: the registration without `period.end`, else the latest |
/// | fields.registeredFrom, deregisteredOn | that identifier's `period.start` and `period.end` (as PDS gives the registration period; `meta` says when the resource changed, not when the child registered) |
///
/// A line that is not JSON, not a Patient, or has no practice by ODS code is rejected here with
/// its line and the FHIR element; values are never repeated. The rest is checked by the gateway.
struct FHIRPatient {
    let observedAt: String

    static let nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
    static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
    static let addressKeyURL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey"

    /// A Patient is deeper and wider than a record, with extensions; still bounded.
    static let json: BoundedJSON = {
        var limits = BoundedJSON.Limits()
        limits.maxDepth = 12
        limits.maxMembers = 256
        limits.maxStringBytes = 4096
        return BoundedJSON(limits: limits)
    }()

    func record<C: Collection<UInt8>>(_ bytes: C, line: Int) -> Result<JSONValue, RecordRejection> {
        func reject(_ field: String, _ reason: String) -> Result<JSONValue, RecordRejection> {
            .failure(RecordRejection(line: line, field: field, reason: reason))
        }
        let patient: [String: JSONValue]
        switch Self.json.parse(bytes) {
        case .failure(let f): return reject("", "not a JSON object: \(f.reason) at byte \(f.offset + 1)")
        case .success(.object(let o)): patient = o
        case .success(let other): return reject("", "a line must be one FHIR resource, a JSON object; found \(other.typeName)")
        }
        guard patient["resourceType"]?.stringValue == "Patient" else {
            return reject("resourceType", "expected Patient: one FHIR R4 Patient resource a line")
        }
        let identifiers = Self.objects(patient["identifier"])
        let nhsNumber = identifiers.first { $0["system"]?.stringValue == Self.nhsNumberSystem }?["value"]?.stringValue
        let otherIdentifier = identifiers.first { $0["system"]?.stringValue != Self.nhsNumberSystem }?["value"]?.stringValue
        guard let localRef = [patient["id"]?.stringValue, otherIdentifier].compactMap({ $0 })
            .first(where: { !RecordValidator.looksLikeStrongIdentifier($0) }) else {
            return reject("id", "no reference of the exporting system's own: id is missing or is the NHS number, and no identifier of another system is given")
        }
        let registrations = Self.objects(patient["generalPractitioner"]).compactMap { $0["identifier"]?.objectValue }
            .filter { $0["system"]?.stringValue == Self.odsSystem && $0["value"]?.stringValue != nil }
        guard let registration = registrations.first(where: { Self.period($0)?["end"] == nil })
            ?? registrations.max(by: { (Self.periodDate($0, "start") ?? "") < (Self.periodDate($1, "start") ?? "") }) else {
            return reject("generalPractitioner", "no registered practice: give generalPractitioner.identifier with system \(Self.odsSystem) and the practice's ODS code")
        }
        let observed = patient["meta"]?.objectValue?["lastUpdated"]?.stringValue.flatMap(Instant.parse).map(Instant.format) ?? observedAt
        var d = RecordDraft(kind: .gpRegistration, localRef: localRef, observedAt: observed)
        d.identifier("nhsNumber", nhsNumber)
        let names = Self.objects(patient["name"])
        if let name = names.first(where: { $0["use"]?.stringValue == "official" }) ?? names.first(where: { $0["use"]?.stringValue == "usual" }) ?? names.first {
            d.identifier("familyName", name["family"]?.stringValue)
            d.identifier("givenName", Self.strings(name["given"]).joined(separator: " "))
        }
        d.identifier("dateOfBirth", patient["birthDate"]?.stringValue)
        let addresses = Self.objects(patient["address"])
        if let address = addresses.first(where: { $0["use"]?.stringValue == "home" && Self.period($0)?["end"] == nil }) ?? addresses.first {
            d.identifier("address", Self.strings(address["line"]).first)
            d.identifier("postcode", address["postalCode"]?.stringValue)
            d.identifier("uprn", Self.uprn(address))
        }
        d.fields["practice"] = registration["value"]
        if let from = Self.periodDate(registration, "start") { d.fields["registeredFrom"] = .string(from) }
        if let to = Self.periodDate(registration, "end") { d.fields["deregisteredOn"] = .string(to) }
        return .success(d.value)
    }

    static func objects(_ value: JSONValue?) -> [[String: JSONValue]] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.objectValue)
    }

    static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    static func period(_ element: [String: JSONValue]) -> [String: JSONValue]? { element["period"]?.objectValue }

    /// A period's start or end as a date: FHIR allows a dateTime there; its own date is the day.
    static func periodDate(_ element: [String: JSONValue], _ key: String) -> String? {
        guard let text = period(element)?[key]?.stringValue else { return nil }
        return text.count > 10 && text.dropFirst(10).first == "T" ? String(text.prefix(10)) : text
    }

    /// The UPRN of a UK Core address: an AddressKey extension whose type code is UPRN.
    static func uprn(_ address: [String: JSONValue]) -> String? {
        for key in objects(address["extension"]) where key["url"]?.stringValue == addressKeyURL {
            let parts = objects(key["extension"])
            let type = parts.first { $0["url"]?.stringValue == "type" }?["valueCoding"]?.objectValue?["code"]?.stringValue
            if type?.uppercased() == "UPRN" { return parts.first { $0["url"]?.stringValue == "value" }?["valueString"]?.stringValue }
        }
        return nil
    }
}
