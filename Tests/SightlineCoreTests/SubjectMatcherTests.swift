import Crypto
import Foundation
import Testing
@testable import SightlineCore

/// The comparison the matcher scores, on material derived as ingestion derives it, with the
/// repository's own weights (Policies/linkage.yaml).
@Suite("Subject matcher comparison")
struct SubjectMatcherTests {
    let keyer = ComparisonKeyer(linkKey: SymmetricKey(data: Data(repeating: 9, count: 32)))
    let matcher: SubjectMatcher

    init() throws {
        let path = Fixture.policiesDirectory.appendingPathComponent("linkage.yaml").path
        matcher = SubjectMatcher(model: try LinkageModel.load(YAMLFile(path: path, code: .policy)))
    }

    func ids(_ given: String?, _ family: String?, dob: (Int, Int, Int)? = (2014, 3, 7), postcode: String? = "NW6 4AB",
             address: String? = nil) -> SubjectIdentifiers {
        var ids = SubjectIdentifiers()
        func parts(_ s: String?) -> [String] {
            (s ?? "").split { $0 == " " || $0 == "-" }.map { NameNormaliser.normalise(String($0)) }.filter { !$0.isEmpty }
        }
        ids.givenName = given.map(NameNormaliser.normalise); ids.familyName = family.map(NameNormaliser.normalise)
        ids.givenNameParts = parts(given); ids.familyNameParts = parts(family)
        ids.dateOfBirth = dob.flatMap { CivilDate(year: $0.0, month: $0.1, day: $0.2) }
        ids.postcode = postcode.flatMap(Postcode.init)
        ids.address = address
        return ids
    }

    func score(_ a: SubjectIdentifiers, _ b: SubjectIdentifiers) -> LinkScore {
        matcher.compare(keyer.material(a), keyer.material(b))
    }

    @Test("names given the wrong way round agree crosswise, also with a typo in one of them")
    func exchangedNames() {
        let straight = score(ids("hannah", "mihal"), ids("hannah", "mihal"))
        let exchanged = score(ids("hannah", "mihal"), ids("mihal", "hannah"))
        let exchangedTypo = score(ids("hannah", "mihal"), ids("mihal", "hannsh"))
        let unrelated = score(ids("hannah", "mihal"), ids("oliver", "brain"))
        #expect(exchanged.levels[.givenName] == .swapped && exchanged.levels[.familyName] == .swapped)
        #expect(exchangedTypo.levels[.givenName] == .swapped && exchangedTypo.levels[.familyName] == .swapped)
        // Ordered: the same names > exchanged > exchanged with a typo > different names.
        #expect(straight.total > exchanged.total && exchanged.total > exchangedTypo.total && exchangedTypo.total > unrelated.total)
        // The typo (in the name compared with the first record's given name) costs what a typo in
        // a given name costs straight.
        let model = matcher.model
        let typoLoss = model.weight(.givenName, .exact) - model.weight(.givenName, .close)
        #expect(abs((exchanged.total - exchangedTypo.total) - typoLoss) < 1e-9)
        #expect(unrelated.levels[.givenName] == .different)
        // One name crosswise is not an exchange: the other must agree crosswise too.
        let half = score(ids("hannah", "mihal"), ids("mihal", "oliver"))
        #expect(half.levels[.givenName] != .swapped)
    }

    @Test("an address agreeing within an agreeing postcode adds the within-postcode weight, once")
    func addressWithinPostcode() {
        let model = matcher.model
        let base = score(ids("amara", "okafor", address: "12 High Street"), ids("amara", "okafor", address: nil))
        let both = score(ids("amara", "okafor", address: "12 High Street"), ids("amara", "okafor", address: "12 high st"))
        #expect(both.levels[.address] == .exact && both.levels[.postcode] == .exact)
        // Postcode and address count once (the stronger), plus what the address says within the unit.
        let once = max(0, model.weight(.address, .exact) - model.weight(.postcode, .exact))
        #expect(abs((both.total - base.total) - (once + model.addressWithinPostcode.weight)) < 1e-9)
        // Another postcode: the address alone counts, as the stronger of the two place fields.
        let moved = score(ids("amara", "okafor", postcode: "NW6 4AB", address: "12 High Street"),
                          ids("amara", "okafor", postcode: "E1 6AN", address: "12 High Street"))
        #expect(moved.levels[.postcode] == .different)
        #expect(moved.total < both.total)
        // Siblings of one household (another given name and date of birth) stay below join.
        let sibling = score(ids("amara", "okafor", dob: (2014, 3, 7), address: "12 High Street"),
                            ids("tobi", "okafor", dob: (2011, 9, 21), address: "12 High Street"))
        #expect(sibling.total < model.join)
    }

    @Test("twins whose given names share a part are not joined on the score; one child's name given in part is")
    func twinsSharingAPart() {
        func decide(_ new: SubjectIdentifiers, _ held: SubjectIdentifiers) -> LinkDecision {
            matcher.decide(SubjectMatcher.Record(material: keyer.material(new), source: "nhs/Y12345", kind: .gpRegistration, referenceKey: Data([1])),
                           candidates: [CandidateRecord(subject: 7, source: "school/100001", kind: .schoolEnrolment, referenceKey: Data([2]),
                                                        material: keyer.material(held))])
        }
        let household = (dob: (2016, 5, 14), postcode: "NW6 4DP", address: "14 Kilburn High Road")
        let twin = decide(ids("mary-kate", "okonkwo-marsh", dob: household.dob, postcode: household.postcode, address: household.address),
                          ids("mary-jane", "okonkwo-marsh", dob: household.dob, postcode: household.postcode, address: household.address))
        guard case .newSubject(let review) = twin else { Issue.record("twins joined: \(twin)"); return }
        #expect(review.map(\.reason) == ["possible-twin-given-names-differ"])
        let inPart = decide(ids("jane", "okonkwo-marsh", dob: household.dob, postcode: household.postcode, address: household.address),
                            ids("mary-jane", "okonkwo-marsh", dob: household.dob, postcode: household.postcode, address: household.address))
        guard case .join(let subject, _, _, _) = inPart else { Issue.record("one child's name in part not joined: \(inPart)"); return }
        #expect(subject == 7)
    }

    @Test("a double-barrelled or two-part name given in part agrees at the part level")
    func namesInPart() {
        #expect(score(ids("amara", "okonkwo-marsh"), ids("amara", "marsh")).levels[.familyName] == .part)
        #expect(score(ids("amara", "okonkwo marsh"), ids("amara", "okonkwo")).levels[.familyName] == .part)
        #expect(score(ids("mary-jane", "okafor"), ids("jane", "okafor")).levels[.givenName] == .part)
        #expect(score(ids("mary jane", "okafor"), ids("mary", "okafor")).levels[.givenName] == .part)
        #expect(score(ids("mary", "okafor"), ids("jane", "okafor")).levels[.givenName] == .different)
    }
}

@Suite("Name variants one edit away")
struct NameVariantsOneEditTests {
    @Test("a mistyped name the table lacks takes the groups of the table name one edit from it")
    func oneEdit() {
        #expect(NameVariants.groups(of: "edwaard").isEmpty)
        #expect(!Set(NameVariants.groupsAllowingOneEdit(of: "edwaard")).isDisjoint(with: NameVariants.groups(of: "teddy")))
        #expect(!Set(NameVariants.groupsAllowingOneEdit(of: "charltte")).isDisjoint(with: NameVariants.groups(of: "lottie")))
        #expect(!Set(NameVariants.groupsAllowingOneEdit(of: "noamh")).isDisjoint(with: NameVariants.groups(of: "niamh")))
        // A name the table holds keeps its own groups; short names and unrelated names get none.
        #expect(NameVariants.groupsAllowingOneEdit(of: "edward") == NameVariants.groups(of: "edward"))
        #expect(NameVariants.groupsAllowingOneEdit(of: "xyz").isEmpty && NameVariants.groupsAllowingOneEdit(of: "qwertyuiop").isEmpty)
    }

    @Test("the school's typo and the GP's short form meet as variants, not as twins")
    func typoAndShortForm() throws {
        let t = try SubjectMatcherTests()
        let score = t.score(t.ids("Edwaard", "Mansour"), t.ids("Teddy", "Mansour"))
        #expect(score.levels[.givenName] == .variant)
    }
}
