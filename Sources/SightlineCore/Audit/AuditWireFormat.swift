import Foundation

/// The audit API's JSON bodies and the export file's lines: one definition for the gateway that
/// writes them and the `sightline` tool that reads them. Hashes are lowercase hex; entries travel
/// as base64 of their exact canonical bytes, so a reader recomputes the very leaf the log hashed.
public enum AuditWire {
    /// `GET /v1/audit/checkpoint?format=json`, and the checkpoint inside other answers.
    public struct Checkpoint: Codable, Sendable {
        /// The C2SP signed note, byte for byte.
        public var note: String
        /// `<name>+<key ID>+<base64 key>`; pin it out of band rather than trusting this copy.
        public var verifierKey: String
        public var origin: String
        public var size: Int64
        public var rootHash: String
        public var time: Date

        public init(note: String, verifierKey: String, origin: String, size: Int64, rootHash: String, time: Date) {
            self.note = note; self.verifierKey = verifierKey; self.origin = origin; self.size = size; self.rootHash = rootHash; self.time = time
        }
    }

    /// One entry of the log.
    public struct Entry: Codable, Sendable {
        public var index: Int64
        public var leafHash: String
        /// Base64 of the exact bytes that were hashed (canonical JSON); empty for a pruned entry.
        public var canonical: String
        /// The same entry decoded, for reading (API only; absent in exports and for a pruned entry).
        public var entry: JSONValue?
        /// True when the entry's content was removed by the audit log's retention (`AuditPruning`):
        /// only its index and leaf hash remain. Absent otherwise, and in answers and exports
        /// written before pruning existed; readers that ignore it see an empty `canonical`.
        public var pruned: Bool?

        public init(index: Int64, leafHash: String, canonical: String, entry: JSONValue? = nil, pruned: Bool? = nil) {
            self.index = index; self.leafHash = leafHash; self.canonical = canonical; self.entry = entry; self.pruned = pruned
        }

        /// An entry as a store holds it: `bytes` empty means its content was pruned, so it
        /// travels with its leaf hash, an empty `canonical` and the marker, and nothing decoded.
        public init(index: Int64, leafHash: Data?, bytes: Data, decode: Bool) {
            if bytes.isEmpty {
                self.init(index: index, leafHash: leafHash?.hexString ?? "", canonical: "", pruned: true)
            } else {
                self.init(index: index, leafHash: leafHash?.hexString ?? "", canonical: bytes.base64EncodedString(),
                          entry: decode ? try? JSONDecoder().decode(JSONValue.self, from: bytes) : nil)
            }
        }

        public var bytes: Data? { Data(base64Encoded: canonical) }

        /// Whether the entry carries no content: its `canonical` is empty (the gateway then also
        /// sets `pruned`). What the bytes say decides, as for the verifier, not the marker.
        public var isPruned: Bool { canonical.isEmpty }
    }

    /// `GET /v1/audit/entries`.
    public struct EntriesPage: Codable, Sendable {
        public var entries: [Entry]
        /// The `from` to ask for next, or nil when nothing further matched.
        public var next: Int64?
        /// Entries in the log when the page was read.
        public var treeSize: Int64

        public init(entries: [Entry], next: Int64?, treeSize: Int64) { self.entries = entries; self.next = next; self.treeSize = treeSize }
    }

    /// `GET /v1/audit/proofs/inclusion`, and the proof inside a submission proof.
    public struct InclusionProof: Codable, Sendable {
        public var index: Int64
        public var size: Int64
        public var leafHash: String
        public var rootHash: String
        /// Audit path, deepest sibling first (RFC 9162 §2.1.3).
        public var proof: [String]

        public init(index: Int64, size: Int64, leafHash: String, rootHash: String, proof: [String]) {
            self.index = index; self.size = size; self.leafHash = leafHash; self.rootHash = rootHash; self.proof = proof
        }
    }

    /// `GET /v1/audit/proofs/consistency`.
    public struct ConsistencyProof: Codable, Sendable {
        public var from: Int64
        public var to: Int64
        public var fromRoot: String
        public var toRoot: String
        /// RFC 9162 §2.1.4 consistency proof.
        public var proof: [String]

        public init(from: Int64, to: Int64, fromRoot: String, toRoot: String, proof: [String]) {
            self.from = from; self.to = to; self.fromRoot = fromRoot; self.toRoot = toRoot; self.proof = proof
        }
    }

    /// `GET /v1/submissions/{id}/proof`: the submitter's proof that its submission was logged.
    public struct SubmissionProof: Codable, Sendable {
        public var submissionId: String
        public var auditIndex: Int64
        public var inclusion: InclusionProof
        public var checkpoint: Checkpoint

        public init(submissionId: String, auditIndex: Int64, inclusion: InclusionProof, checkpoint: Checkpoint) {
            self.submissionId = submissionId; self.auditIndex = auditIndex; self.inclusion = inclusion; self.checkpoint = checkpoint
        }
    }

    /// The first line of an export (`sightline audit export`); entry lines follow, then one
    /// `{"storedCheckpoint": note}` line per earlier checkpoint the source kept.
    public struct ExportHeader: Codable, Sendable {
        public static let currentFormat = "sightline-audit-export/1"
        public var format: String
        public var exportedAt: Date
        public var checkpoint: Checkpoint

        public init(exportedAt: Date, checkpoint: Checkpoint) {
            self.format = Self.currentFormat; self.exportedAt = exportedAt; self.checkpoint = checkpoint
        }
    }

    public struct ExportStoredCheckpoint: Codable, Sendable {
        public var storedCheckpoint: String
        public init(storedCheckpoint: String) { self.storedCheckpoint = storedCheckpoint }
    }

    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }

    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }

    /// A filter bound: an instant (2026-11-29T12:00:00Z) or a date (2026-11-29, its UTC midnight).
    public static func parseTime(_ text: String) -> Date? {
        if let instant = Instant.parse(text) { return instant }
        guard CivilDate(iso: text) != nil else { return nil }
        return Instant.parse(text + "T00:00:00Z")
    }
}
