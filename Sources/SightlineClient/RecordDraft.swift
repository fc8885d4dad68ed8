import Foundation
import SightlineCore

/// A record being put together from an agency's file (a CSV row, a CTF pupil, a FHIR Patient):
/// the one place the client gives a record the shape of DESIGN.md "Record kinds (v1)". Values are
/// checked by the gateway, which owns the schemas' rules; readers only convert what they read.
struct RecordDraft {
    let kind: RecordKind
    var localRef: String?
    var observedAt: String
    var identifiers: [String: JSONValue] = [:]
    var fields: [String: JSONValue] = [:]

    init(kind: RecordKind, localRef: String? = nil, observedAt: String) {
        self.kind = kind; self.localRef = localRef; self.observedAt = observedAt
    }

    /// Sets `identifiers.NAME` or `fields.NAME` from a record path; false for any other path.
    mutating func set(_ path: String, _ value: JSONValue) -> Bool {
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count) {
        case ("identifiers", 2): identifiers[parts[1]] = value
        case ("fields", 2): fields[parts[1]] = value
        case ("localRef", 1): localRef = value.stringValue
        case ("observedAt", 1): observedAt = value.stringValue ?? observedAt
        default: return false
        }
        return true
    }

    /// Sets `identifiers.NAME` to `text` unless it is blank.
    mutating func identifier(_ name: String, _ text: String?) {
        if let text, !text.isEmpty { identifiers[name] = .string(text) }
    }

    var value: JSONValue {
        var top: [String: JSONValue] = ["kind": .string(kind.rawValue), "observedAt": .string(observedAt),
                                        "identifiers": .object(identifiers), "fields": .object(fields)]
        if let localRef { top["localRef"] = .string(localRef) }
        return .object(top)
    }
}

extension Submitter.PreparedRecord {
    /// A record value as the bytes sent: canonical JSON (sorted keys), one NDJSON line.
    init(line: Int, value: JSONValue, position: String? = nil) {
        self.init(line: line, json: (try? CanonicalJSON.encode(value)) ?? Data(), position: position)
    }
}
