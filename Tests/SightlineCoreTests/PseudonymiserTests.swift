import Crypto
import Foundation
import Testing
@testable import SightlineCore

@Suite("Pseudonymiser")
struct PseudonymiserTests {
    /// RFC 4231 section 4.2 and 4.3.
    static let rfc4231: [(key: Data, data: Data, mac: String)] = [
        (Data(repeating: 0x0b, count: 20), Data("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Data("Jefe".utf8), Data("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ]

    static func keys(linkKey: Data, recipientKey: Data = Data(repeating: 0x22, count: 32)) -> KeyMaterial {
        KeyMaterial(linkKeyID: "link-test", linkKey: SymmetricKey(data: linkKey),
                    recipientKeyID: "recipient-test", recipientKey: SymmetricKey(data: recipientKey),
                    sealingKeyID: "seal-test", sealingKey: SymmetricKey(size: .bits256),
                    auditSigningKeyID: "audit-test", auditSigningKey: Curve25519.Signing.PrivateKey(),
                    digestKeyID: "digest-test", digestKey: SymmetricKey(size: .bits256))
    }

    /// HMAC-SHA256 computed from scratch over domain || 0x00 || value.
    static func freshMAC(key: Data, domain: String, value: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(domain.utf8) + [0] + Data(value.utf8), using: SymmetricKey(data: key)))
    }

    @Test("swift-crypto's HMAC-SHA256 matches RFC 4231 test cases 1 and 2, at once and in pieces")
    func rfc4231Vectors() {
        for vector in Self.rfc4231 {
            let key = SymmetricKey(data: vector.key)
            #expect(Data(HMAC<SHA256>.authenticationCode(for: vector.data, using: key)).hexString == vector.mac)
            // The prepared-and-copied style the Pseudonymiser uses.
            let prepared = HMAC<SHA256>(key: key)
            var copy = prepared
            copy.update(data: vector.data.prefix(3))
            copy.update(data: vector.data.dropFirst(3))
            #expect(Data(copy.finalize()).hexString == vector.mac)
            var second = prepared
            second.update(data: vector.data)
            #expect(Data(second.finalize()).hexString == vector.mac, "the prepared state is not consumed by a copy")
        }
    }

    @Test("mac over a prepared HMAC equals a fresh HMAC of domain || 0x00 || value, call after call")
    func preparedMACMatchesFresh() {
        for vector in Self.rfc4231 {
            let p = Pseudonymiser(keys: Self.keys(linkKey: Data(repeating: 0x33, count: 32)))
            let base = PreparedHMAC(key: SymmetricKey(data: vector.key))
            let a1 = p.mac(base, domain: "nhs", "9434765919")
            let b = p.mac(base, domain: "upn", "H801200001001")
            let a2 = p.mac(base, domain: "nhs", "9434765919")
            #expect(a1 == Self.freshMAC(key: vector.key, domain: "nhs", value: "9434765919"))
            #expect(b == Self.freshMAC(key: vector.key, domain: "upn", value: "H801200001001"))
            #expect(a1 == a2)
            #expect(a1 != b)
        }
    }

    @Test("the domain separator keeps (domain, value) pairs apart")
    func domainSeparation() {
        let p = Pseudonymiser(keys: Self.keys(linkKey: Data(repeating: 0x44, count: 32)))
        #expect(p.linkageKey(.nhsNumber, "9434765919").digest != p.linkageKey(.upn, "9434765919").digest)
        let base = PreparedHMAC(key: SymmetricKey(size: .bits256))
        #expect(p.mac(base, domain: "ab", "c") != p.mac(base, domain: "a", "bc"))
    }

    @Test("linkage keys use the link key: HMAC(link key, basis || 0x00 || value)")
    func linkageKeyUsesLinkKey() {
        let key = Self.rfc4231[0].key
        let p = Pseudonymiser(keys: Self.keys(linkKey: key))
        let first = p.linkageKey(.nhsNumber, "9434765919")
        #expect(first.basis == .nhsNumber)
        #expect(first.digest == Self.freshMAC(key: key, domain: "nhs", value: "9434765919"))
        #expect(first.digest.count == 32)
        _ = p.linkageKey(.upn, "H801200001001")
        #expect(p.linkageKey(.nhsNumber, "9434765919") == first, "earlier calls leave no state behind")
        #expect(p.linkageKey(.nhsNumber, "6541003238") != first)
    }

    func identifiers(_ ids: [String: String]) throws -> SubjectIdentifiers {
        let value = JSONValue.object([
            "kind": .string("school.enrolment"), "localRef": .string("R1"), "observedAt": .string("2026-11-01T10:00:00Z"),
            "identifiers": .object(ids.mapValues { .string($0) }), "fields": .object(["onRollFrom": .string("2025-09-03")]),
        ])
        return try RecordValidator(now: Fixture.now).validate(value, line: 1).get().identifiers
    }

    @Test("the same child written differently gets the same linkage keys")
    func sameChildSameKeys() throws {
        let p = Pseudonymiser(keys: KeyMaterial.generate())
        let a = try identifiers(["nhsNumber": "943 476 5919", "givenName": "Zoë", "familyName": "O'Brien",
                                 "dateOfBirth": "2015-06-01", "postcode": "nw6 4dp"])
        let b = try identifiers(["nhsNumber": "9434765919", "givenName": "zoe", "familyName": "obrien",
                                 "dateOfBirth": "2015-06-01", "postcode": "NW6 4DP"])
        let keysA = p.linkageKeys(for: a), keysB = p.linkageKeys(for: b)
        #expect(keysA.map(\.basis) == [.nhsNumber], "names and dates link through keyed comparison material, not exact keys")
        #expect(keysA == keysB)
        #expect(p.comparison.material(a) == p.comparison.material(b))
        #expect(Set(p.comparison.blockingKeys(a)) == Set(p.comparison.blockingKeys(b)))
    }

    @Test("a different child, or a different date of birth, gets different keys")
    func differentChildDifferentKeys() throws {
        let p = Pseudonymiser(keys: KeyMaterial.generate())
        let a = try identifiers(["givenName": "Zoë", "familyName": "O'Brien", "dateOfBirth": "2015-06-01"])
        let b = try identifiers(["givenName": "Zoë", "familyName": "O'Brien", "dateOfBirth": "2015-06-02"])
        #expect(p.linkageKeys(for: a).isEmpty && p.linkageKeys(for: b).isEmpty)
        #expect(p.comparison.material(a).birthDate != p.comparison.material(b).birthDate)
        #expect(p.comparison.material(a).given == p.comparison.material(b).given)
        #expect(Set(p.comparison.blockingKeys(a)).isDisjoint(with: p.comparison.blockingKeys(b)) == false, "one digit apart still shares a blocking key")
    }

    @Test("different link keys give different digests for the same identifier")
    func differentLinkKeys() {
        let a = Pseudonymiser(keys: KeyMaterial.generate()).linkageKey(.nhsNumber, "9434765919")
        let b = Pseudonymiser(keys: KeyMaterial.generate()).linkageKey(.nhsNumber, "9434765919")
        #expect(a.digest != b.digest)
    }

    @Test("recipient pseudonyms differ between recipients and are stable for one")
    func recipientPseudonyms() {
        let keys = KeyMaterial.generate()
        let p = Pseudonymiser(keys: keys)
        let cme = ParticipantIdentity(trustDomain: "brent.sightline", role: .partner, id: "304-cme")
        let mash = ParticipantIdentity(trustDomain: "brent.sightline", role: .partner, id: "304-mash")
        let forCME = p.recipientPseudonym(subjectID: 42, recipient: cme)
        #expect(forCME.hasPrefix("ps_"))
        #expect(forCME.count == 3 + 32)
        #expect(forCME != p.recipientPseudonym(subjectID: 42, recipient: mash))
        #expect(forCME != p.recipientPseudonym(subjectID: 43, recipient: cme))
        #expect(forCME == p.recipientPseudonym(subjectID: 42, recipient: cme))
        #expect(forCME == Pseudonymiser(keys: keys).recipientPseudonym(subjectID: 42, recipient: cme), "stable across restarts")
        #expect(forCME != Pseudonymiser(keys: KeyMaterial.generate()).recipientPseudonym(subjectID: 42, recipient: cme))
    }

    static let source = ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001")

    func validatedExample() throws -> ValidatedRecord {
        let value = Fixture.designExample.setting("identifiers.nhsNumber", to: .string("9434765919"))
        return try RecordValidator(now: Fixture.now).validate(value, line: 1).get()
    }

    @Test("pseudonymise keeps only the kept fields and lists the dropped ones")
    func minimisation() throws {
        let p = Pseudonymiser(keys: KeyMaterial.generate())
        let out = p.pseudonymise(try validatedExample(), source: Self.source, keptFields: ["onRollFrom", "youngCarer", "offRollOn"])
        #expect(out.fields == ["onRollFrom": .string("2025-09-03"), "youngCarer": .bool(true)])
        #expect(out.droppedFields == ["partTimeTimetable", "senStatus"])
        #expect(out.kind == .schoolEnrolment)
        #expect(out.birthYearMonth == "2014-03")
        #expect(out.postcodeDistrict == "NW6")
        #expect(out.linkageKeys.map(\.basis) == [.nhsNumber, .upn])
        #expect(!out.blockingKeys.isEmpty && out.material.given != nil && out.material.birthDate != nil)
    }

    @Test("the reference key recognises a resubmitted row from the same source only")
    func referenceKey() throws {
        let p = Pseudonymiser(keys: KeyMaterial.generate())
        let other = ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100002")
        let record = try validatedExample()
        let first = p.pseudonymise(record, source: Self.source, keptFields: [])
        #expect(first.referenceKey == p.pseudonymise(record, source: Self.source, keptFields: []).referenceKey)
        #expect(first.referenceKey != p.pseudonymise(record, source: other, keptFields: []).referenceKey)
    }

    @Test("a pseudonymised record holds no raw identifier")
    func noRawIdentifiers() throws {
        let p = Pseudonymiser(keys: KeyMaterial.generate())
        let out = p.pseudonymise(try validatedExample(), source: Self.source, keptFields: Set(RecordKind.schoolEnrolment.schema.fieldNames))
        let parts: [String] = [
            out.kind.rawValue, out.referenceKey.hexString, String(decoding: out.referenceKey, as: UTF8.self),
            out.birthYearMonth ?? "", out.postcodeDistrict ?? "", CanonicalJSON.string(out.fields),
            out.droppedFields.joined(separator: ","), Instant.format(out.observedAt),
            CanonicalJSON.string(out.linkageKeys),
        ] + out.linkageKeys.map { String(decoding: $0.digest, as: UTF8.self) }
        // Case-sensitive on purpose: base64 digests are random letters, and a lower-cased one could
        // spell a short name by chance. The validator folds names to lower case, so both are checked.
        let text = (parts + [String(describing: out)]).joined(separator: "\n")
        for raw in ["9434765919", "943 476 5919", "H801200001001", "h801200001001", "Amara", "amara", "Okafor", "okafor",
                    "NW6 4DP", "NW64DP", "2014-03-02", "ADM-0042"] {
            #expect(!text.contains(raw), "\(raw) appears in the pseudonymised record")
        }
    }
}
