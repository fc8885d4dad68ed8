import Foundation
import Testing
@testable import SightlineCore

/// Shared fixtures: a fixed "now", the repository's own files, temporary directories.
enum Fixture {
    /// 2026-11-29T12:00:00Z: every time-dependent check in these tests runs against this instant.
    static let now: Date = Instant.parse("2026-11-29T12:00:00Z")!

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var policiesDirectory: URL { repositoryRoot.appendingPathComponent("Policies") }

    /// The record in DESIGN.md, "Record kinds (v1)".
    static let designExample = json("""
        {"kind":"school.enrolment","localRef":"ADM-0042","observedAt":"2026-09-08T08:30:00Z",
         "identifiers":{"upn":"H801200001001","givenName":"Amara","familyName":"Okafor",
                        "dateOfBirth":"2014-03-02","postcode":"NW6 4DP"},
         "fields":{"onRollFrom":"2025-09-03","partTimeTimetable":false,"senStatus":"support","youngCarer":true}}
        """)
}

func json(_ text: String) -> JSONValue {
    try! JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

extension JSONValue {
    /// A copy with the value at a dotted path ("identifiers.nhsNumber") replaced, or removed when nil.
    func setting(_ path: String, to value: JSONValue?) -> JSONValue {
        guard case .object(var object) = self else { return self }
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 1 {
            object[parts[0]] = value
        } else {
            object[parts[0]] = (object[parts[0]] ?? .object([:])).setting(parts[1], to: value)
        }
        return .object(object)
    }
}

/// A fresh directory under the system temporary directory, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-tests-" + UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Runs `body` and returns the SightlineError it throws, or nil if it throws none.
func sightlineError(_ body: () throws -> Void) -> SightlineError? {
    do {
        try body()
        return nil
    } catch let error as SightlineError {
        return error
    } catch {
        Issue.record("expected a SightlineError, got \(error)")
        return nil
    }
}
