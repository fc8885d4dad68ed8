import Foundation
import Testing
@testable import SightlineCore

/// Each test breaks one thing in a copy of the shipped policy and expects the load to stop with
/// `file:line: ... problem`.
@Suite("Policy lint")
struct PolicyLintTests {
    /// Copies Policies/ to a temporary directory, applies `change`, loads it, and returns the error.
    func lint(_ change: (URL) throws -> Void) throws -> SightlineError? {
        try withTemporaryDirectory { dir in
            let copy = dir.appendingPathComponent("Policies")
            try FileManager.default.copyItem(at: Fixture.policiesDirectory, to: copy)
            try change(copy)
            return sightlineError { _ = try PolicyLoader.load(directory: copy.path) }
        }
    }

    /// Replaces the first occurrence of `old` in `file`; fails the test if `old` is not there.
    func edit(_ dir: URL, _ file: String, _ old: String, _ new: String) throws {
        let url = dir.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        let range = try #require(text.range(of: old), "\(file) no longer contains \(old)")
        try text.replacingCharacters(in: range, with: new).write(to: url, atomically: true, encoding: .utf8)
    }

    func expectError(_ error: SightlineError?, at location: String, mentioning problem: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let error = try #require(error, "the policy loaded", sourceLocation: sourceLocation)
        #expect(error.code == .policy, sourceLocation: sourceLocation)
        #expect(error.message.contains(location), "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.contains(problem), "\(error.message)", sourceLocation: sourceLocation)
    }

    @Test("an unmodified copy loads")
    func copyLoads() throws {
        #expect(try lint { _ in } == nil)
    }

    @Test("a field removed from every purpose is no longer in use, so it is dropped at ingress")
    func fieldOutOfUse() throws {
        try withTemporaryDirectory { dir in
            let copy = dir.appendingPathComponent("Policies")
            try FileManager.default.copyItem(at: Fixture.policiesDirectory, to: copy)
            try edit(copy, "purposes/s17.yaml", "youngCarer, freeSchoolMeals,", "youngCarer,")
            let policy = try PolicyLoader.load(directory: copy.path)
            #expect(policy.fieldsInUse[.schoolEnrolment]?.contains("freeSchoolMeals") == false)
            #expect(policy.fieldsInUse[.schoolEnrolment]?.contains("youngCarer") == true)
        }
    }

    @Test("a purpose using a field its kind does not have")
    func unknownField() throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "tenancyTo, movedOutOfArea]", "tenancyTo, movedOutOfArea, rentArrears]") }
        try expectError(error, at: "cme.yaml:10:", mentioning: "'rentArrears' is not a field of housing.tenancy")
    }

    @Test("a purpose citing a legal gateway that is not defined")
    func unknownGateway() throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "education-act-1996-s436a", "education-act-1996-s436z") }
        try expectError(error, at: "cme.yaml:5:", mentioning: "unknown legal gateway 'education-act-1996-s436z'")
    }

    @Test("a purpose in a file not named after it")
    func fileNameMismatch() throws {
        let error = try lint { dir in
            let purposes = dir.appendingPathComponent("purposes")
            try FileManager.default.moveItem(at: purposes.appendingPathComponent("cme.yaml"),
                                             to: purposes.appendingPathComponent("missing-education.yaml"))
        }
        try expectError(error, at: "missing-education.yaml:3:", mentioning: "must be in a file named cme.yaml")
    }

    @Test("a misspelt key in a purpose")
    func unknownKey() throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "retention: P2Y", "retension: P2Y") }
        try expectError(error, at: "cme.yaml:13:", mentioning: "retension: unknown key")
    }

    @Test("police notifications used without citing uk-gdpr-10")
    func criminalOffenceData() throws {
        let error = try lint { try edit($0, "purposes/encompass.yaml", "uk-gdpr-10, ", "") }
        try expectError(error, at: "encompass.yaml:6:", mentioning: "must cite uk-gdpr-10")
    }

    @Test("senStatus used without citing uk-gdpr-9-2-g")
    func specialCategoryData() throws {
        let error = try lint { try edit($0, "purposes/s17.yaml", "uk-gdpr-9-2-g, ", "") }
        try expectError(error, at: "s17.yaml:5:", mentioning: "must cite uk-gdpr-9-2-g")
    }

    @Test("a submission rule giving school.enrolment to the nhs role")
    func wrongSubmitter() throws {
        let error = try lint { try edit($0, "policy.yaml", "roles: [school]", "roles: [school, nhs]") }
        // The line of the first school rule, wherever comments above it put it.
        let text = try String(contentsOf: Fixture.policiesDirectory.appendingPathComponent("policy.yaml"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("roles: [school]") }) + 1
        try expectError(error, at: "policy.yaml:\(line):", mentioning: "school.enrolment records come from school participants, not nhs")
    }

    @Test("a retention that is not an ISO 8601 period", arguments: ["2 years", "P0Y", "2Y", "P", "P-1Y", "p2y"])
    func malformedRetention(_ retention: String) throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "retention: P2Y", "retention: \(retention)") }
        try expectError(error, at: "cme.yaml:13:", mentioning: "retention must be an ISO 8601 period")
    }

    @Test("a purpose file that is not valid YAML names the file and the line")
    func invalidYAML() throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "recipients: [partner]", "recipients: [partner]]") }
        try expectError(error, at: "cme.yaml", mentioning: "not valid YAML")
        #expect(error?.message.contains("cme.yaml:6:") == true, "\(error?.message ?? "")")
    }

    @Test("a YAML syntax error uses the same file:line: form as every other policy problem")
    func invalidYAMLLocationForm() throws {
        let error = try lint { try edit($0, "purposes/cme.yaml", "recipients: [partner]", "recipients: [partner]]") }
        try expectError(error, at: "cme.yaml:6:", mentioning: "not valid YAML")
    }

    @Test("an unknown record kind in a block-style uses list names the kind's own line")
    func unknownKindBlockStyle() throws {
        let error = try lint {
            try edit($0, "purposes/cme.yaml", "  la.register: [register, from, to]\n", "  la.registers:\n    - register\n    - from\n")
        }
        try expectError(error, at: "cme.yaml:11:", mentioning: "unknown record kind")
    }

    @Test("s47 uses criminal-offence and special-category data: a role-wide recipient is refused",
          arguments: ["s47", "s17"])
    func roleWideRecipientOfSensitiveData(_ purpose: String) throws {
        let error = try lint { try edit($0, "purposes/\(purpose).yaml", "recipients: [partner/304-mash]", "recipients: [partner]") }
        try expectError(error, at: "\(purpose).yaml:7:", mentioning: "recipient 'partner' is a whole role")
        #expect(error?.message.contains("name each recipient participant") == true, "\(error?.message ?? "")")
    }

    @Test("encompass may not grant the whole school role: current-school is the forwarding rule's")
    func roleWideSchoolsOfEncompass() throws {
        let error = try lint { try edit($0, "purposes/encompass.yaml", "[partner/304-mash, current-school]", "[partner/304-mash, school]") }
        try expectError(error, at: "encompass.yaml:11:", mentioning: "recipient 'school' is a whole role")
    }

    @Test("a current-school rule without a team to hold notices for, or with one the purpose does not name")
    func currentSchoolNeedsHoldFor() throws {
        let missing = try lint { try edit($0, "forwarding.yaml", "    hold-for: partner/304-mash\n", "") }
        try expectError(missing, at: "forwarding.yaml:24:", mentioning: "needs hold-for")
        let wrong = try lint { try edit($0, "forwarding.yaml", "hold-for: partner/304-mash", "hold-for: partner/304-cme") }
        try expectError(wrong, at: "forwarding.yaml:25:", mentioning: "must be a partner participant named in purpose encompass's recipients")
        let noGrant = try lint { try edit($0, "purposes/encompass.yaml", "[partner/304-mash, current-school]", "[partner/304-mash]") }
        try expectError(noGrant, at: "forwarding.yaml:24:", mentioning: "does not list current-school")
    }
}
