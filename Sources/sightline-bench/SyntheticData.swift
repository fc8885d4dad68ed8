import Foundation
import SightlineClient
import SightlineCore

/// The repository's synthetic data set at one scale, read the way agencies send it: CSV through
/// the column mappings in ops/mappings/, NDJSON as it is. Which identity sends which file with
/// which mapping follows ops/demo.sh.
struct AgencyFile: Sendable {
    /// The dev identity directory name under `<state>/identities/`, e.g. "school-100001".
    let identity: String
    let role: Role
    let kind: RecordKind
    let path: String
    let mapping: String?

    var participant: ParticipantIdentity {
        ParticipantIdentity(trustDomain: "brent.sightline", role: role, id: String(identity.dropFirst(role.rawValue.count + 1)))
    }

    static func plan(dataDirectory d: String, repository r: String) -> [AgencyFile] {
        var files: [AgencyFile] = []
        for urn in ["100001", "100002", "100003"] {
            files.append(.init(identity: "school-\(urn)", role: .school, kind: .schoolEnrolment,
                               path: "\(d)/school-\(urn)/enrolment.csv", mapping: "\(r)/ops/mappings/school-enrolment.yaml"))
            files.append(.init(identity: "school-\(urn)", role: .school, kind: .schoolAttendance,
                               path: "\(d)/school-\(urn)/attendance.csv", mapping: "\(r)/ops/mappings/school-attendance.yaml"))
            files.append(.init(identity: "school-\(urn)", role: .school, kind: .schoolExclusion,
                               path: "\(d)/school-\(urn)/exclusions.ndjson", mapping: nil))
        }
        files.append(.init(identity: "nhs-Y12345", role: .nhs, kind: .gpRegistration, path: "\(d)/nhs/gp-registrations.ndjson", mapping: nil))
        files.append(.init(identity: "police-MPS", role: .police, kind: .policeNotification, path: "\(d)/police/notifications.ndjson", mapping: nil))
        files.append(.init(identity: "housing-brent", role: .housing, kind: .housingTenancy,
                           path: "\(d)/housing/tenancies.csv", mapping: "\(r)/ops/mappings/housing-tenancy.yaml"))
        files.append(.init(identity: "la-304", role: .la, kind: .laRegister, path: "\(d)/la/registers.ndjson", mapping: nil))
        return files
    }
}

/// A file converted to records, as `sightline submit` prepares it before sending.
struct PreparedFile: @unchecked Sendable {
    let file: AgencyFile
    let prepared: (records: [Submitter.PreparedRecord], rejected: [RecordRejection], content: Data)
}

enum SyntheticData {
    /// Generates the data set into `directory` unless it is there already (the generator is
    /// deterministic, so a kept copy is the same data).
    static func ensure(children: Int, directory: String, repository: String) throws {
        if FileManager.default.fileExists(atPath: directory + "/MANIFEST.md") {
            print("data: reusing \(directory) (generate.py is deterministic)")
            return
        }
        print("data: python3 ops/sample-data/generate.py --children \(children) --out \(directory)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", repository + "/ops/sample-data/generate.py", "--children", String(children), "--out", directory]
        p.standardOutput = FileHandle.nullDevice
        let seconds = try timed {
            try p.run()
            p.waitUntilExit()
        }
        guard p.terminationStatus == 0 else { throw BenchError("generate.py failed with status \(p.terminationStatus)") }
        print(String(format: "data: generated in %.1f s", seconds))
    }

    static func prepare(_ files: [AgencyFile]) throws -> [PreparedFile] {
        let observedAt = Instant.format(Date())
        return try files.map { f in
            var mapping: ColumnMapping?
            if let path = f.mapping {
                do { mapping = try ColumnMapping.load(path: path) } catch { throw BenchError("\(path): \((error as? SightlineError)?.message ?? "\(error)")") }
            }
            do {
                let p = try Submitter.prepare(file: f.path, format: f.mapping == nil ? "ndjson" : "csv", kind: f.kind, mapping: mapping, observedAt: observedAt)
                return PreparedFile(file: f, prepared: p)
            } catch {
                throw BenchError("\(f.path): \((error as? ClientError)?.message ?? "\(error)")")
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
