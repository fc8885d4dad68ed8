import Foundation

/// One run of `sightline audit verify`, whatever the log is read from (API, database, export):
/// chooses the verifier keys, hands every checkpoint to the verifier, then checks the entries
/// fed to it.
///
/// Keys: checkpoints are opened with the pinned keys, and with keys the log hands over to in
/// an `audit-key-rotated` entry that a checkpoint by an already trusted key covers (see
/// `AuditLogVerifier.TrustedKey`). So an auditor who pinned the key before a rotation verifies
/// the whole log, before and after it; one who pinned only the new key verifies the older
/// checkpoints through the same entry, which names the key it replaced; and one who pins both
/// (after a compromise, say) needs no handover at all. Without a pinned key the keys the source
/// recorded are used, and the report says so: that proves the log is consistent with its own
/// signatures, not who made them.
///
/// Entries whose content the log's retention pruned come with no bytes, only their leaf hashes;
/// see `AuditLogVerifier` for when that is accepted and `AuditLogVerifier.PrunedPrefix` for what
/// is then proven. The report names the pruned prefix and the entry that records the prune.
public struct AuditVerification: Sendable {
    /// A checkpoint note and the verifier key the source says signed it.
    public struct Note: Sendable {
        public let note: String
        public let verifierKey: String?
        public init(note: String, verifierKey: String?) { self.note = note; self.verifierKey = verifierKey }
    }

    /// What the auditor kept from an earlier day.
    public enum Saved: Sendable {
        /// A checkpoint note (`audit checkpoint --out`): the log must extend it.
        case checkpoint(note: String, label: String)
        /// An earlier export: the log must extend its checkpoint, and its entries pin the first
        /// changed entry exactly.
        case export(AuditExport, label: String)
    }

    static let latestLabel = "the latest checkpoint"

    public let pinned: Bool
    public let verifierKeys: [NoteVerifierKey]
    /// What the saved checkpoint is called, to find it among the verified ones.
    let savedLabel: String?
    public let checkpointCount: Int
    public let source: String
    private var verifier: AuditLogVerifier

    /// Reads every checkpoint; one that is not a signed checkpoint, or whose signature by a
    /// trusted key does not verify, is thrown before any entry is read. One signed by a key not
    /// trusted yet waits for the entries, which may hand over to that key; `finish` fails if
    /// they do not.
    public init(source: String, latest: Note?, stored: [Note] = [], saved: Saved? = nil, pinned: [NoteVerifierKey],
                storedNodes: [Int: [Int64: Data]]? = nil, lowestStoredLevel: Int = 1) throws(AuditLogVerifier.Failure) {
        self.source = source
        self.pinned = !pinned.isEmpty
        var keys = pinned
        if keys.isEmpty {
            var seen = Set<String>()
            var recorded = ([latest] + stored).compactMap { $0?.verifierKey }
            if case .export(let e, _) = saved { recorded.append(e.header.checkpoint.verifierKey) }
            for text in recorded where seen.insert(text).inserted {
                if let key = try? NoteVerifierKey(parsing: text) { keys.append(key) }
            }
        }
        verifierKeys = keys
        guard let latest else {
            throw AuditLogVerifier.Failure(.noCheckpoint, index: nil, "\(source) has no signed checkpoint: nothing signed vouches for its entries; the gateway signs one every few seconds of activity, or on GET /v1/audit/checkpoint")
        }
        guard !keys.isEmpty else {
            throw AuditLogVerifier.Failure(.checkpointSignature, index: nil, "no verifier key: pin the log's key with --verifier-key <name>+<key ID>+<key> (as `sightline audit checkpoint` prints it)")
        }
        var notes = [AuditLogVerifier.LabeledNote(note: latest.note, label: Self.latestLabel)]
        var seenNotes: Set<String> = [latest.note]
        for s in stored where seenNotes.insert(s.note).inserted {
            // The size and time are what the note claims; they only name it until it is opened.
            let claimed = try? AuditCheckpoint.unverified(s.note)
            let label = "the log's stored checkpoint" + (claimed.map { " of size \($0.size) (\(Instant.format($0.time)))" } ?? "")
            notes.append(.init(note: s.note, label: label))
        }
        var reference: [Data]?
        switch saved {
        case .checkpoint(let note, let label):
            notes.append(.init(note: note, label: label))
            savedLabel = label
        case .export(let export, let label):
            let name = "the checkpoint of \(label)"
            let claimed: AuditCheckpoint
            do { claimed = try AuditCheckpoint.unverified(export.header.checkpoint.note) } catch {
                throw AuditLogVerifier.Failure(.checkpointSignature, index: nil, "\(name) does not verify: \((error as? AuditLogError)?.message ?? "\(error)")")
            }
            // The earlier export must itself be whole before it can pin anything; its signature
            // is checked with the other checkpoints. A pruned entry in it counts with its leaf
            // hash, which that signed root binds.
            let leaves = export.entries.prefix(Int(claimed.size)).compactMap { $0.bytes.isEmpty ? $0.leafHash : AuditHash.leaf($0.bytes) }
            guard leaves.count == claimed.size, MerkleHash.root(of: leaves) == claimed.rootHash else {
                throw AuditLogVerifier.Failure(.reference, index: nil, "\(label) is itself damaged: its entries do not hash to its own signed checkpoint, so it cannot be compared with")
            }
            notes.append(.init(note: export.header.checkpoint.note, label: name))
            reference = leaves
            savedLabel = name
        case nil:
            savedLabel = nil
        }
        checkpointCount = notes.count
        verifier = try AuditLogVerifier(notes: notes, pinned: keys, pinnedAs: self.pinned ? .pinned : .recorded, storedNodes: storedNodes,
                                        lowestStoredLevel: lowestStoredLevel, referenceLeaves: reference)
    }

    /// Checks the next entry; `columns` are the search columns a database source keeps beside it.
    public mutating func add(index: Int64, entry: Data, storedLeaf: Data? = nil, storedChain: Data? = nil,
                             columns: AuditSearchColumns? = nil) throws(AuditLogVerifier.Failure) {
        try verifier.add(index: index, entry: entry, storedLeaf: storedLeaf, storedChain: storedChain, columns: columns)
    }

    public var size: Int64 { verifier.size }

    public func finish(storedTree: MerkleTree? = nil) -> AuditVerificationReport {
        do {
            let summary = try verifier.finish(storedTree: storedTree)
            let latest = summary.verifiedCheckpoints.last { $0.label == Self.latestLabel }
            let saved = savedLabel.flatMap { label in summary.verifiedCheckpoints.last { $0.label == label } }
            return AuditVerificationReport(ok: true, source: source, entries: summary.entries, rootHash: summary.rootHash.hexString,
                                           checkpoint: latest.map(AuditVerificationReport.CheckpointSummary.init),
                                           savedCheckpoint: saved.map(AuditVerificationReport.CheckpointSummary.init),
                                           verifierKey: verifierKeys.map(\.description), verifierKeyPinned: pinned,
                                           checkpointsVerified: summary.verifiedCheckpoints.count,
                                           unsignedEntries: summary.entries - (latest?.checkpoint.size ?? 0), failure: nil,
                                           keys: summary.keys, pruned: summary.pruned)
        } catch {
            return report(failure: error)
        }
    }

    public func report(failure: AuditLogVerifier.Failure) -> AuditVerificationReport {
        AuditVerificationReport.failed(source: source, failure, keys: verifierKeys, pinned: pinned)
    }
}

/// What `audit verify` prints (as text or `--json`).
public struct AuditVerificationReport: Codable, Sendable {
    public struct CheckpointSummary: Codable, Sendable {
        public var origin: String
        public var size: Int64
        public var rootHash: String
        public var time: Date
        public init(_ root: AuditLogVerifier.SignedRoot) {
            origin = root.checkpoint.origin; size = root.checkpoint.size; rootHash = root.checkpoint.rootHash.hexString; time = root.checkpoint.time
        }
    }

    public var ok: Bool
    public var source: String
    public var entries: Int64?
    public var rootHash: String?
    /// The latest checkpoint, whose signature and root verified.
    public var checkpoint: CheckpointSummary?
    /// The checkpoint saved earlier that the log was shown to extend.
    public var savedCheckpoint: CheckpointSummary?
    public var verifierKey: [String]
    /// False when the key came from the log itself rather than from --verifier-key.
    public var verifierKeyPinned: Bool
    /// Signed checkpoints whose roots matched the entries.
    public var checkpointsVerified: Int
    /// Entries after the latest checkpoint: checked against the stored hashes, not yet signed.
    public var unsignedEntries: Int64?
    public var failure: AuditLogVerifier.Failure?
    /// Every key the check trusted, pinned or learned from the log's key rotations, and how
    /// many checkpoints each signed (absent in reports written before rotation, and on failure).
    public var keys: [AuditLogVerifier.TrustedKey]? = nil
    /// The start of the log whose content was pruned (audit-retention), and the entry that
    /// records the prune; absent when nothing is pruned, and on failure.
    public var pruned: AuditLogVerifier.PrunedPrefix? = nil

    public static func failed(source: String, _ failure: AuditLogVerifier.Failure, keys: [NoteVerifierKey] = [], pinned: Bool = false) -> AuditVerificationReport {
        AuditVerificationReport(ok: false, source: source, entries: nil, rootHash: nil, checkpoint: nil, savedCheckpoint: nil,
                                verifierKey: keys.map(\.description), verifierKeyPinned: pinned, checkpointsVerified: 0,
                                unsignedEntries: nil, failure: failure)
    }

    /// The human form: an OK summary, or what failed and the first entry that does not verify.
    public var text: String {
        guard ok, let entries, let rootHash else {
            guard let failure else { return "audit log NOT verified" }
            var out = "audit log NOT verified (\(source)): \(failure.message)"
            if let index = failure.index, let column = failure.column {
                out += "\nfirst entry that does not verify: \(index) (its \(column) column)"
            } else if let index = failure.index {
                out += failure.rangeEnd.map { "\nfirst entry that does not verify: \(index) (the change lies in entries \(index)..<\($0))" }
                    ?? "\nfirst entry that does not verify: \(index)"
            }
            return out
        }
        var lines = ["audit log OK (\(source)): \(entries) entries, root \(rootHash)"]
        if let c = checkpoint {
            lines.append("  checkpoint: size \(c.size), signed \(Instant.format(c.time)) for \(c.origin)")
        }
        lines.append("  \(checkpointsVerified) signed checkpoint(s) match the entries")
        if let s = savedCheckpoint {
            lines.append("  extends the saved checkpoint: size \(s.size), signed \(Instant.format(s.time))")
        }
        for key in keys ?? [] {
            lines.append("  key \(key.verifierKey): \(key.summary)")
        }
        if let p = pruned {
            let more = p.prunes > 1 ? "; \(p.prunes) prunes in all" : ""
            lines.append("  entries 0..<\(p.entries): content pruned on \(Instant.format(p.record.time)) (audit-retention \(p.record.period), recorded in entry \(p.record.index), covered by the checkpoint of size \(p.coveredBySize)\(more)); their leaf hashes are bound by the checkpoints, their content is gone")
        }
        if let unsigned = unsignedEntries, unsigned > 0 {
            lines.append("  \(unsigned) entries after the latest checkpoint match the log's stored hashes but are not signed yet")
        }
        if !verifierKeyPinned {
            lines.append("  note: the verifier key was taken from the log itself (\(verifierKey.joined(separator: ", "))); pin it with --verifier-key to prove who signed")
        }
        return lines.joined(separator: "\n")
    }
}

/// An export file (`sightline audit export`): a header line with the checkpoint, one line per
/// entry (its exact bytes in base64), then the log's earlier checkpoints.
public struct AuditExport: Sendable {
    public struct Entry: Sendable {
        public let index: Int64
        public let bytes: Data
        public let leafHash: Data?
    }
    public let header: AuditWire.ExportHeader
    public let entries: [Entry]
    public let storedCheckpoints: [String]

    /// Parses an export; a line that is not part of one is named by number.
    public static func parse(_ data: Data, name: String) throws(AuditLogError) -> AuditExport {
        let decoder = AuditWire.decoder
        var header: AuditWire.ExportHeader?
        var entries: [Entry] = []
        var stored: [String] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            let bytes = Data(line)
            if header == nil {
                guard let h = try? decoder.decode(AuditWire.ExportHeader.self, from: bytes), h.format == AuditWire.ExportHeader.currentFormat else {
                    throw AuditLogError(.malformed, "\(name):1: not a Sightline audit export (expected a header line with format \(AuditWire.ExportHeader.currentFormat))")
                }
                header = h
            } else if let e = try? decoder.decode(AuditWire.Entry.self, from: bytes) {
                guard let entryBytes = e.bytes else {
                    throw AuditLogError(.malformed, "\(name):\(lineNumber): the entry's canonical bytes are not base64")
                }
                entries.append(Entry(index: e.index, bytes: entryBytes, leafHash: Data(hex: e.leafHash)))
            } else if let s = try? decoder.decode(AuditWire.ExportStoredCheckpoint.self, from: bytes) {
                stored.append(s.storedCheckpoint)
            } else {
                throw AuditLogError(.malformed, "\(name):\(lineNumber): neither an entry nor a stored checkpoint line")
            }
        }
        guard let header else { throw AuditLogError(.malformed, "\(name) is empty; it is not a Sightline audit export") }
        return AuditExport(header: header, entries: entries, storedCheckpoints: stored)
    }

    /// Whether `data` looks like an export rather than a checkpoint note.
    public static func looksLikeExport(_ data: Data) -> Bool { data.first == UInt8(ascii: "{") }
}
