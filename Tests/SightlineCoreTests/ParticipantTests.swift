import Foundation
import Testing
@testable import SightlineCore

@Suite("Participants")
struct ParticipantTests {
    @Test("a SPIFFE URI gives trust domain, role and id")
    func parsesURI() throws {
        let identity = try #require(ParticipantIdentity(uri: "spiffe://brent.sightline/school/100001"))
        #expect(identity.trustDomain == "brent.sightline")
        #expect(identity.role == .school)
        #expect(identity.id == "100001")
        #expect(identity.shortName == "school/100001")
        #expect(identity.uri == "spiffe://brent.sightline/school/100001")
    }

    @Test("every role of DESIGN.md parses", arguments: [
        "spiffe://brent.sightline/nhs/Y12345", "spiffe://brent.sightline/police/MPS", "spiffe://brent.sightline/housing/brent",
        "spiffe://brent.sightline/la/304", "spiffe://brent.sightline/partner/304-cme", "spiffe://brent.sightline/auditor/dpo",
    ])
    func roles(_ uri: String) throws {
        #expect(try #require(ParticipantIdentity(uri: uri)).uri == uri)
    }

    @Test("malformed identities are refused", arguments: [
        "https://brent.sightline/school/100001",         // other scheme
        "SPIFFE://brent.sightline/school/100001",
        "spiffe://brent.sightline/teacher/100001",       // unknown role
        "spiffe://brent.sightline/School/100001",
        "spiffe://brent.sightline/school/100001/extra",  // extra path segment
        "spiffe://brent.sightline/school/100001/",
        "spiffe://brent.sightline/school/",              // empty id
        "spiffe://brent.sightline/school",
        "spiffe:///school/100001",                       // empty trust domain
        "spiffe://brent.sightline/school/100.001",       // dots only in the trust domain
        "spiffe://brent.sightline/school/100 001",
        "spiffe://Brent.Sightline/school/100001",        // SPIFFE trust domains are lowercase: refused, not folded
        "spiffe://brent.sightline./school/100001",       // trailing dot
        "spiffe://.brent.sightline/school/100001",
        "spiffe://brent.sightline:8443/school/100001",   // port
        "spiffe://user@brent.sightline/school/100001",   // userinfo
        "spiffe://brent.sightline/school/100001?x=1",
        "spiffe://brent.sightline/school/100001#x",
        "spiffe://brent.sightline/school/%31%30",
        "spiffe://brent.sightline//school/100001",
        "spiffe://brent.sightline/school/..",
        "spiffe://brent.sightline/school/1\u{0}",
        "spiffe://brent.sightlin\u{0435}/school/100001",  // Cyrillic e
        "",
    ])
    func refused(_ uri: String) {
        #expect(ParticipantIdentity(uri: uri) == nil)
    }

    static let participantsFile = """
        # test partnership
        trust-domain: brent.sightline
        participants:
          - id: school/100001
            name: "Kilburn Park Primary"
            status: active
            la: "304"
          - id: nhs/Y12345
            name: "Willesden Medical Centre"
            status: suspended

        """

    func write(_ text: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("participants.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("lookups: active, inactive, unknown and foreign trust domain")
    func lookups() throws {
        try withTemporaryDirectory { dir in
            let registry = try ParticipantRegistry.load(path: try write(Self.participantsFile, in: dir))
            #expect(registry.trustDomain == "brent.sightline")
            let school = try #require(ParticipantIdentity(uri: "spiffe://brent.sightline/school/100001"))
            let nhs = try #require(ParticipantIdentity(uri: "spiffe://brent.sightline/nhs/Y12345"))
            let police = try #require(ParticipantIdentity(uri: "spiffe://brent.sightline/police/MPS"))
            let elsewhere = try #require(ParticipantIdentity(uri: "spiffe://camden.sightline/school/100001"))
            guard case .active(let p) = registry.lookup(school) else { Issue.record("school not active"); return }
            #expect(p.name == "Kilburn Park Primary")
            #expect(p.la == "304")
            guard case .inactive(let q) = registry.lookup(nhs) else { Issue.record("nhs not inactive"); return }
            #expect(q.status == .suspended)
            #expect(registry.lookup(police) == .unknown)
            #expect(registry.lookup(elsewhere) == .foreignTrustDomain)
        }
    }

    @Test("a participant with a bad role is refused, naming the file and line")
    func badRole() throws {
        try withTemporaryDirectory { dir in
            let text = Self.participantsFile.replacingOccurrences(of: "id: nhs/Y12345", with: "id: doctor/Y12345")
            let path = try write(text, in: dir)
            let error = try #require(sightlineError { _ = try ParticipantRegistry.load(path: path) })
            #expect(error.code == .participants)
            #expect(error.message.contains("participants.yaml:8:"), "\(error.message)")
            #expect(error.message.contains("role"))
        }
    }

    @Test("a bad status and a duplicate participant name their lines")
    func badStatusAndDuplicate() throws {
        try withTemporaryDirectory { dir in
            let badStatus = try write(Self.participantsFile.replacingOccurrences(of: "status: suspended", with: "status: paused"), in: dir)
            let e1 = try #require(sightlineError { _ = try ParticipantRegistry.load(path: badStatus) })
            #expect(e1.message.contains("participants.yaml:10:"), "\(e1.message)")
            let duplicate = try write(Self.participantsFile.replacingOccurrences(of: "id: nhs/Y12345", with: "id: school/100001"), in: dir)
            let e2 = try #require(sightlineError { _ = try ParticipantRegistry.load(path: duplicate) })
            #expect(e2.message.contains("participants.yaml:8:"), "\(e2.message)")
            #expect(e2.message.contains("twice"))
        }
    }

    @Test("the rendered participants file loads back to the same participants")
    func renderRoundTrip() throws {
        let list = [
            Participant(identity: .init(trustDomain: "brent.sightline", role: .school, id: "100001"), name: "A school", status: .active, la: "304"),
            Participant(identity: .init(trustDomain: "brent.sightline", role: .police, id: "MPS"), name: "Met", status: .suspended, la: nil),
        ]
        try withTemporaryDirectory { dir in
            let path = try write(ParticipantRegistry.render(trustDomain: "brent.sightline", participants: list), in: dir)
            let registry = try ParticipantRegistry.load(path: path)
            #expect(registry.participants.count == 2)
            for p in list { #expect(registry.participants[p.identity] == p) }
        }
    }
}
