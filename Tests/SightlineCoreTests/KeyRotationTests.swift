import Crypto
import Foundation
import Testing
@testable import SightlineCore

@Suite("Key rotation: the key file, the link key chain, the sealer")
struct KeyRotationCoreTests {
    func bytes(_ key: SymmetricKey) -> Data { key.withUnsafeBytes { Data($0) } }

    static func identifiers(_ json: String) throws -> SubjectIdentifiers {
        guard case .object(let raw) = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)),
              case .success(let ids) = RecordValidator(now: Fixture.now).validateIdentifiers(raw) else { throw KeyRotationTestFailure() }
        return ids
    }

    @Test("a rotated key file keeps what each kind needs of the old key and loads back")
    func rotatedFileRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            let keys = KeyMaterial.generate(now: Fixture.now)
            try keys.write(to: path)
            var rotated = keys
            for kind in RotatableKey.allCases { rotated = rotated.rotated(kind, now: Fixture.now) }
            try KeyMaterial.replace(path: path, with: rotated)
            let loaded = try KeyMaterial.load(from: path)
            #expect(loaded.linkKeyID == rotated.linkKeyID && loaded.linkKeyID != keys.linkKeyID)
            #expect(loaded.history.link.map(\.id) == [keys.linkKeyID] && bytes(loaded.history.link[0].key) == bytes(keys.linkKey), "the old link key stays: it roots the chain")
            #expect(loaded.history.sealing.map(\.id) == [keys.sealingKeyID], "the old sealing key stays until forgotten")
            #expect(loaded.history.recipient.map(\.id) == [keys.recipientKeyID], "only the old recipient key's id")
            #expect(loaded.history.auditSigning.first?.publicKey.rawRepresentation == keys.auditSigningKey.publicKey.rawRepresentation)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(!text.contains(keys.auditSigningKey.rawRepresentation.base64EncodedString()), "the old audit private key is destroyed")
            #expect(!text.contains(bytes(keys.recipientKey).base64EncodedString()), "the old recipient key is destroyed")
            #expect(try keys.rotations(to: loaded).count == 4)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let forgotten = loaded.forgettingRetiredSealingKeys()
            #expect(forgotten.history.sealing.isEmpty && forgotten.history.link.count == 1)
            #expect(try loaded.rotations(to: forgotten).isEmpty, "forgetting is not a rotation")
        }
    }

    @Test("only a continuation of the keys in force is accepted")
    func rotationsRefuseAReplacement() throws {
        let keys = KeyMaterial.generate(now: Fixture.now)
        let other = KeyMaterial.generate(now: Fixture.now)
        #expect(sightlineError { _ = try keys.rotations(to: other) }?.message.contains("link") == true)
        #expect(try keys.rotations(to: keys).isEmpty)
        #expect(try keys.rotations(to: keys.rotated(.sealing)) == [.sealing])
        // A rotated file whose link history was tampered with is refused.
        let rotated = keys.rotated(.link)
        let forged = KeyMaterial(linkKeyID: rotated.linkKeyID, linkKey: rotated.linkKey, recipientKeyID: keys.recipientKeyID, recipientKey: keys.recipientKey,
                                 sealingKeyID: keys.sealingKeyID, sealingKey: keys.sealingKey, auditSigningKeyID: keys.auditSigningKeyID,
                                 auditSigningKey: keys.auditSigningKey, digestKeyID: keys.digestKeyID, digestKey: keys.digestKey,
                                 history: KeyHistory())
        #expect(sightlineError { _ = try keys.rotations(to: forged) } != nil)
        // The same ids with other key bytes in the history: refused too.
        let twice = rotated.rotated(.sealing)
        var tampered = twice.history
        tampered.link = [NamedKey(id: keys.linkKeyID, key: SymmetricKey(size: .bits256))]
        let swapped = KeyMaterial(linkKeyID: twice.linkKeyID, linkKey: twice.linkKey, recipientKeyID: twice.recipientKeyID, recipientKey: twice.recipientKey,
                                  sealingKeyID: twice.sealingKeyID, sealingKey: twice.sealingKey, auditSigningKeyID: twice.auditSigningKeyID,
                                  auditSigningKey: twice.auditSigningKey, digestKeyID: twice.digestKeyID, digestKey: twice.digestKey, history: tampered)
        #expect(sightlineError { _ = try rotated.rotations(to: swapped) } != nil, "a history key's bytes changed under its id")
        // Forgetting may drop retired sealing keys, never add one.
        var added = rotated.history
        added.sealing = [NamedKey(id: "seal-extra", key: SymmetricKey(size: .bits256))]
        let extra = KeyMaterial(linkKeyID: rotated.linkKeyID, linkKey: rotated.linkKey, recipientKeyID: rotated.recipientKeyID, recipientKey: rotated.recipientKey,
                                sealingKeyID: rotated.sealingKeyID, sealingKey: rotated.sealingKey, auditSigningKeyID: rotated.auditSigningKeyID,
                                auditSigningKey: rotated.auditSigningKey, digestKeyID: rotated.digestKeyID, digestKey: rotated.digestKey, history: added)
        #expect(sightlineError { _ = try rotated.rotations(to: extra) } != nil)
        #expect(try twice.rotations(to: twice.forgettingRetiredSealingKeys()).isEmpty)
    }

    @Test("wrapping what the old chain made gives exactly what the new chain makes, and equal values stay equal")
    func chainWrapIsTheMigration() throws {
        let keys = KeyMaterial.generate(now: Fixture.now)
        let rotated = keys.rotated(.link)
        let old = Pseudonymiser(keys: keys), new = Pseudonymiser(keys: rotated)
        let ids = try Self.identifiers(#"{"nhsNumber":"9434765919","givenName":"Amara","familyName":"Okafor-Marsh","dateOfBirth":"2014-03-02","postcode":"NW6 4DP","address":"12 Kilburn High Road"}"#)
        let step = try #require(LinkKeyChain(rotated.linkChain).lastStep)
        let record = ValidatedRecord(kind: .gpRegistration, localRef: "GP-1", observedAt: Fixture.now, identifiers: ids, fields: [:])
        let a = old.pseudonymise(record, source: ParticipantIdentity(trustDomain: "t", role: .nhs, id: "Y1"), keptFields: [])
        let b = new.pseudonymise(record, source: ParticipantIdentity(trustDomain: "t", role: .nhs, id: "Y1"), keptFields: [])
        #expect(a.linkageKeys.map { step.digest($0.digest) } == b.linkageKeys.map(\.digest))
        #expect(a.linkageKeys.map(\.digest) != b.linkageKeys.map(\.digest))
        #expect(step.digest(a.referenceKey) == b.referenceKey && a.birthDateKey.map(step.digest) == b.birthDateKey)
        #expect(a.blockingKeys.map(step.digest) == b.blockingKeys && a.candidateKeys.map(step.digest) == b.candidateKeys)
        #expect(step.material(a.material) == b.material, "material wrapped token by token, lists re-sorted")
        #expect(b.material.given?.exact != a.material.given?.exact)
        // The matcher sees the same agreement between two records under either chain.
        let ids2 = try Self.identifiers(#"{"givenName":"Amarah","familyName":"Marsh","dateOfBirth":"2014-02-03","postcode":"NW6 4DQ"}"#)
        let matcher = SubjectMatcher(model: try LinkageModel.load(YAMLFile(path: Fixture.policiesDirectory.appendingPathComponent("linkage.yaml").path, code: .policy)))
        let oldScore = matcher.compare(a.material, old.lookupKeys(for: ids2).material)
        let newScore = matcher.compare(b.material, new.lookupKeys(for: ids2).material)
        #expect(oldScore.levels == newScore.levels && oldScore.total == newScore.total)
        // During a migration lookups carry the old form too.
        let migrating = Pseudonymiser(keys: rotated, lookUpLegacyForms: true)
        let lookup = migrating.lookupKeys(for: ids)
        #expect(lookup.legacyLinkageKeys.map(\.digest) == a.linkageKeys.map(\.digest) && lookup.linkageKeys.map(\.digest) == b.linkageKeys.map(\.digest))
        #expect(Set(lookup.legacyCandidateKeys) == Set(a.candidateKeys))
        #expect(migrating.pseudonymise(record, source: ParticipantIdentity(trustDomain: "t", role: .nhs, id: "Y1"), keptFields: []).legacy?.referenceKey == a.referenceKey)
    }

    @Test("the sealer opens under retired keys, seals under the current one, and says what needs re-sealing")
    func sealerAcrossRotation() throws {
        let keys = KeyMaterial.generate(now: Fixture.now)
        let rotated = keys.rotated(.sealing)
        let old = Sealer(keys: keys), new = Sealer(keys: rotated)
        let sealedOld = try old.seal(Data("ADM-0042".utf8))
        #expect(try new.open(sealedOld) == Data("ADM-0042".utf8))
        let resealed = try #require(try new.resealIfRetired(sealedOld))
        #expect(try new.resealIfRetired(resealed) == nil, "already under the current key")
        #expect(throws: (any Error).self) { try old.open(resealed) }
        let stranger = Sealer(keys: KeyMaterial.generate(now: Fixture.now))
        #expect(throws: (any Error).self) { _ = try new.resealIfRetired(try stranger.seal(Data("x".utf8))) }
        #expect(throws: (any Error).self) { _ = try Sealer(keys: rotated.forgettingRetiredSealingKeys()).open(sealedOld) }
    }

    @Test("after a recipient rotation a pseudonym already issued is kept, and a new child gets the new key's")
    func stablePseudonyms() {
        let keys = KeyMaterial.generate(now: Fixture.now)
        let partner = ParticipantIdentity(trustDomain: "t", role: .partner, id: "304-cme")
        let old = Pseudonymiser(keys: keys), new = Pseudonymiser(keys: keys.rotated(.recipient))
        let issued = old.recipientPseudonym(subjectID: 7, recipient: partner)
        #expect(new.stablePseudonym(subjectID: 7, recipient: partner, issued: [issued]) == issued)
        #expect(new.stablePseudonym(subjectID: 8, recipient: partner, issued: []) == new.recipientPseudonym(subjectID: 8, recipient: partner))
        #expect(new.recipientPseudonym(subjectID: 8, recipient: partner) != old.recipientPseudonym(subjectID: 8, recipient: partner))
        #expect(old.stablePseudonym(subjectID: 7, recipient: partner, issued: ["ps_other"]) == issued, "before any rotation: as it always was")
    }
}

struct KeyRotationTestFailure: Error {}
