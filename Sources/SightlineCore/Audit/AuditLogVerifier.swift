import Foundation

/// Checks a whole audit log from the bytes of its entries, in one pass: every leaf is
/// recomputed, the tree is rebuilt, and each signed checkpoint's root must be the rebuilt root
/// at its size. What the source stores beside the entries (leaf and chain hashes, Merkle nodes,
/// the saved right edge) is checked against the entries too, since proofs are served from it.
///
/// Feed entries in index order with `add`, then call `finish`. The first problem stops the
/// check and is thrown as a `Failure` naming the first entry that does not verify. A change
/// that only a checkpoint root reveals cannot be pinned to one entry without the old entries:
/// the failure then bounds it (`index ..< rangeEnd`) between the largest checkpoint that still
/// verifies and the first that does not; an earlier export given as `referenceLeaves` pins it.
///
/// Built from notes and pinned keys (`init(notes:pinned:)`) it also follows the log's key
/// rotations, since the entries are the only place that says which key signs next: see
/// `TrustedKey` for what a rotation entry makes trusted, and when.
///
/// An entry given with no bytes is one whose content the audit log's retention removed
/// (`AuditPruning`). Its stored leaf hash is taken as given, and the chain and the tree are
/// built on from it, so every checkpoint, signed before the prune or after, is still checked
/// against the same leaves. That is accepted only for a prefix of the log (no entry with content
/// before an entry without), and only below the boundary named by an `audit.pruned` entry of the
/// gateway that a checkpoint verified under a trusted key covers; see `PrunedPrefix` for what is
/// then proven. Any other entry without content fails, naming the first one.
public struct AuditLogVerifier: Sendable {
    public struct Failure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Codable {
            /// An entry is absent: the next stored entry has a higher index.
            case missingEntry = "missing-entry"
            /// An entry index repeats or goes backwards.
            case outOfOrder = "out-of-order"
            /// The entry's bytes do not hash to the leaf hash stored with it.
            case leafHash = "leaf-hash"
            /// The hash chain stored with the entries breaks here: removed, reordered or replaced.
            case chainHash = "chain-hash"
            /// A stored Merkle node (served in proofs) does not match the entries under it.
            case storedNode = "stored-node"
            /// The stored right edge of the tree does not match the entries.
            case treeState = "tree-state"
            /// A checkpoint is not signed by the expected key, or is not a checkpoint of this log.
            case checkpointSignature = "checkpoint-signature"
            /// A signed root does not match the entries up to its size.
            case checkpointRoot = "checkpoint-root"
            /// A checkpoint or the tree state covers entries the log no longer has.
            case truncated = "truncated"
            /// The entry differs from the same entry in an earlier export.
            case reference = "reference"
            /// Nothing signed vouches for the log.
            case noCheckpoint = "no-checkpoint"
            /// A column the store searches on (actor, rule, time, ...) says something other than
            /// the hashed entry: searches would miss the entry, or find it where it does not belong.
            case searchColumn = "search-column"
            /// An entry has no content where the log records no prune of it: after an entry that
            /// has content, or beyond what the `audit.pruned` entries a trusted checkpoint covers name.
            case pruned = "pruned"
        }
        public let kind: Kind
        /// The first entry that does not verify, when the check can name one.
        public let index: Int64?
        /// Set when the check can only bound the change: it lies in `index ..< rangeEnd`.
        public let rangeEnd: Int64?
        /// The search column that disagrees with the entry (kind `searchColumn` only).
        public let column: String?
        public let message: String

        public init(_ kind: Kind, index: Int64?, rangeEnd: Int64? = nil, column: String? = nil, _ message: String) {
            self.kind = kind; self.index = index; self.rangeEnd = rangeEnd; self.column = column; self.message = message
        }

        public var description: String { message }
    }

    /// A checkpoint whose signature has been checked, and what to call it in messages.
    public struct SignedRoot: Sendable, Equatable, Codable {
        public let label: String
        public let checkpoint: Checkpoint
        /// The verifier key whose signature was checked.
        public var signedBy: String? = nil
        public struct Checkpoint: Sendable, Equatable, Codable {
            public let origin: String
            public let size: Int64
            public let rootHash: Data
            public let time: Date
        }
    }

    /// A checkpoint note not opened yet, and what to call it in messages.
    public struct LabeledNote: Sendable {
        public let note: String
        public let label: String
        public init(note: String, label: String) { self.note = note; self.label = label }
    }

    /// A key the check accepts checkpoints from, for which tree sizes, and why.
    ///
    /// A pinned key is trusted for every size until the log rotates away from it. A key the log
    /// hands over to (`audit-key-rotated`) is trusted only from the first checkpoint by an
    /// already trusted key that covers the rotation entry: that checkpoint is the trusted key
    /// saying "the next key is this one", and nothing smaller was vouched for that way. Once the
    /// new key has signed, the old key is trusted only up to that size: the gateway signs nothing
    /// larger with it, so a later checkpoint by it was made with a key that should be gone.
    public struct TrustedKey: Sendable, Codable, Equatable {
        public enum Source: String, Sendable, Codable {
            /// Given with --verifier-key.
            case pinned
            /// Taken from the keys the source recorded beside its checkpoints, as nothing was pinned.
            case recorded
            /// Named as the new key by an `audit-key-rotated` entry that a trusted checkpoint covers.
            case handedOver = "handed-over"
            /// Named as the replaced key by an `audit-key-rotated` entry that a trusted checkpoint
            /// covers: learned backwards, for an auditor who pinned only the new key. It is trusted
            /// only for trees no larger than that checkpoint's, whose roots it already vouches for.
            case predecessor
        }
        public let verifierKey: String
        public var source: Source
        /// Checkpoints of fewer entries are not accepted from this key.
        public var fromSize: Int64
        /// Checkpoints of more entries are not accepted from this key.
        public var throughSize: Int64?
        /// For a learned key: the `audit-key-rotated` entry that named it ...
        public var rotationEntry: Int64?
        /// ... the size of the checkpoint that covered that entry, and the key that signed it.
        public var vouchedAtSize: Int64?
        public var vouchedBy: String?
        /// The key that replaced this one, once it has signed a checkpoint (`throughSize` is its size).
        public var retiredFor: String?
        /// Checkpoints by this key whose roots matched the entries.
        public var checkpoints: Int = 0

        public func accepts(size: Int64) -> Bool { size >= fromSize && throughSize.map { size <= $0 } ?? true }

        /// `<name>+<key ID>`: enough to tell keys apart in a sentence.
        static func short(_ verifierKey: String) -> String { verifierKey.split(separator: "+").prefix(2).joined(separator: "+") }

        /// How the key came to be trusted, for `audit verify`'s report.
        public var summary: String {
            var parts: [String] = []
            let rotation = AuditKeyRotation.rotatedAction
            switch source {
            case .pinned: parts.append("pinned")
            case .recorded: parts.append("taken from the log, not pinned")
            case .handedOver:
                parts.append("learned from entry \(rotationEntry ?? -1) (\(rotation)), covered by the checkpoint of size \(vouchedAtSize ?? -1) signed by \(vouchedBy.map(Self.short) ?? "?"); trusted for checkpoints of \(fromSize) entries or more")
            case .predecessor:
                parts.append("the key entry \(rotationEntry ?? -1) (\(rotation)) replaced, learned from the checkpoint of size \(vouchedAtSize ?? -1) signed by \(vouchedBy.map(Self.short) ?? "?") that covers it")
            }
            if let retiredFor, let throughSize {
                parts.append("retired after size \(throughSize), when \(Self.short(retiredFor)) took over")
            } else if let throughSize {
                parts.append("trusted for checkpoints of at most \(throughSize) entries")
            }
            parts.append("\(checkpoints) checkpoint(s) verified")
            return parts.joined(separator: "; ")
        }

        /// Why a checkpoint of `size` entries signed by this key is refused.
        func refusal(size: Int64) -> String {
            let me = Self.short(verifierKey)
            if size < fromSize {
                return "it is signed by \(me), which the log handed over to in entry \(rotationEntry ?? -1) (\(AuditKeyRotation.rotatedAction)); that key is trusted only for checkpoints of \(fromSize) entries or more, from the checkpoint by a trusted key that covers the handover, and this one has \(size): no key you trust vouched for it"
            }
            if let retiredFor, let throughSize {
                return "it is signed by \(me), which the log rotated away from: its successor \(Self.short(retiredFor)) signed the checkpoint of size \(throughSize), and the gateway signs nothing larger with a replaced key, so this checkpoint of \(size) entries was made with a key that should no longer be in use (a stolen copy?)"
            }
            return "it is signed by \(me), which entry \(rotationEntry ?? -1) (\(AuditKeyRotation.rotatedAction)) says the log used before its rotation; it is trusted only for checkpoints of at most \(throughSize ?? -1) entries, and this one has \(size)"
        }
    }

    /// The start of the log whose content was pruned, and the entry that vouches for it.
    ///
    /// What the check proves for these entries: their leaf hashes are the ones every verified
    /// checkpoint covering them signed (each root is recomputed from them), so any checkpoint
    /// signed before the prune (one the auditor saved, or one the source kept) proves they are the
    /// very leaves that were there with their content; where the source keeps chain hashes, those
    /// are recomputed from the same leaves; and the gateway recorded the prune, naming a boundary at
    /// or beyond them, in an entry a trusted checkpoint covers. What it cannot prove: what the
    /// entries said, that they were well-formed entries, the times stored beside them, or any key
    /// rotation recorded in them.
    public struct PrunedPrefix: Sendable, Codable, Equatable {
        /// Entries `0..<entries` have no content.
        public let entries: Int64
        /// The first `audit.pruned` entry that names a boundary at or beyond them.
        public let record: AuditPruning.Record
        /// The smallest verified checkpoint that covers that entry.
        public let coveredBySize: Int64
        /// `audit.pruned` entries in the log (one per prune that removed anything).
        public let prunes: Int
    }

    public struct Summary: Sendable, Codable {
        public let entries: Int64
        public let rootHash: Data
        /// The checkpoints whose roots matched, smallest first.
        public let verifiedCheckpoints: [SignedRoot]
        /// The keys the check trusted, pinned and learned; empty when it was given opened roots.
        public let keys: [TrustedKey]
        /// Set when the log starts with pruned entries.
        public var pruned: PrunedPrefix? = nil
    }

    /// Opens `note` with the first of `verifiers` that signed it, and checks it belongs to `origin`
    /// when one is given.
    public static func open(_ note: String, label: String, verifiers: [NoteVerifierKey], origin: String? = nil) throws(Failure) -> SignedRoot {
        var problems: [String] = []
        for verifier in verifiers {
            do {
                let c = try AuditCheckpoint.parse(note, verifier: verifier)
                if let origin, c.origin != origin {
                    throw Failure(.checkpointSignature, index: nil, "\(label) is for the log \"\(c.origin)\", not this log (\"\(origin)\")")
                }
                return SignedRoot(label: label, checkpoint: .init(origin: c.origin, size: c.size, rootHash: c.rootHash, time: c.time),
                                  signedBy: verifier.description)
            } catch let failure as Failure {
                throw failure
            } catch let error as AuditLogError {
                problems.append(error.message)
            } catch {
                problems.append("\(error)")
            }
        }
        throw Failure(.checkpointSignature, index: nil,
                      "\(label) does not verify: \(problems.isEmpty ? "no verifier key given" : problems.joined(separator: "; "))")
    }

    private var tree = MerkleTree()
    private var chain = AuditHash.genesis
    private var pending: [SignedRoot]
    private var verified: [SignedRoot] = []
    private let storedNodes: [Int: [Int64: Data]]?
    private let lowestStoredLevel: Int
    private let referenceLeaves: [Data]?
    /// Entries `0..<prunedPrefix` came without content; the first entry with content ends the prefix.
    private var prunedPrefix: Int64 = 0
    /// What the `audit.pruned` entries seen so far say.
    private var pruneRecords: [AuditPruning.Record] = []

    // Keys, for a check built from notes (`init(notes:pinned:)`); unused for opened roots.
    private struct Trust: Sendable {
        let key: NoteVerifierKey
        var info: TrustedKey
    }
    private struct Rotation: Sendable {
        let index: Int64
        let new: NoteVerifierKey
        let old: NoteVerifierKey?
        /// The size of the first trusted checkpoint that covered the entry.
        var vouchedAt: Int64?
        var successorSigned = false
    }
    /// A note no trusted key opens yet; `size` is what it claims, unchecked.
    private struct Deferred: Sendable {
        let note: String
        let label: String
        let size: Int64
    }
    private var learnsKeys = false
    private var trust: [Trust] = []
    private var deferred: [Deferred] = []
    private var rotations: [Rotation] = []
    private var origin: String?
    private var notesSeen: Set<String> = []
    /// Roots kept for sizes the tree has passed: for deferred notes, which may open once a key is
    /// learned later in the log, and for the handover a rotation's later entry carries.
    private var wantedRoots: Set<Int64> = []
    private var pastRoots: [Int64: Data] = [:]
    private var keepRootsThrough: Int64 = -1
    private var trustChanged = false
    /// How far after a rotation entry its `audit-key-handover` entry may lie and still be
    /// checked. The gateway writes it a few entries later (only what other requests append
    /// meanwhile lies between), and keeping a root per entry costs 32 bytes.
    static let handoverWindow: Int64 = 4096

    /// - Parameters:
    ///   - roots: checkpoints already opened with `open`.
    ///   - storedNodes: the source's interior nodes by level and index, to check when a source
    ///     keeps them; levels below `lowestStoredLevel` are not expected.
    ///   - referenceLeaves: the leaf hashes of an earlier export whose checkpoint verified.
    public init(roots: [SignedRoot], storedNodes: [Int: [Int64: Data]]? = nil, lowestStoredLevel: Int = 1,
                referenceLeaves: [Data]? = nil) throws(Failure) {
        pending = roots.sorted { $0.checkpoint.size < $1.checkpoint.size }
        self.storedNodes = storedNodes
        self.lowestStoredLevel = lowestStoredLevel
        self.referenceLeaves = referenceLeaves
        try checkRootsAtCurrentSize()
    }

    /// A check that opens the notes itself and follows key rotations recorded in the log: a
    /// note that no trusted key opens waits until a rotation entry, covered by a checkpoint that
    /// verified under a trusted key, hands over to the key that signed it (see `TrustedKey`).
    /// A note still unopened at `finish` fails the check.
    ///
    /// - Parameters:
    ///   - notes: every checkpoint to hold the log to; the first is the one messages name first.
    ///   - pinned: the keys trusted for every size; `pinnedAs` says where they came from.
    public init(notes: [LabeledNote], pinned: [NoteVerifierKey], pinnedAs: TrustedKey.Source = .pinned,
                storedNodes: [Int: [Int64: Data]]? = nil, lowestStoredLevel: Int = 1, referenceLeaves: [Data]? = nil) throws(Failure) {
        try self.init(roots: [], storedNodes: storedNodes, lowestStoredLevel: lowestStoredLevel, referenceLeaves: referenceLeaves)
        learnsKeys = true
        var seen = Set<String>()
        for key in pinned where seen.insert(key.description).inserted {
            trust.append(Trust(key: key, info: TrustedKey(verifierKey: key.description, source: pinnedAs, fromSize: 0)))
        }
        for n in notes { notesSeen.insert(n.note) }
        for n in notes { try admit(n) }
        keepRoot()
        try checkRootsAtCurrentSize()
    }

    public var size: Int64 { tree.size }

    /// Checks the entry that should be number `size`. `columns` are the values the source keeps
    /// beside the entry for searches, when it keeps any; each must be what the entry says.
    /// Empty `entry` bytes are a pruned entry: `storedLeaf` is then required and taken as given,
    /// and its columns must be cleared (see the type's notes on pruning).
    public mutating func add(index: Int64, entry: Data, storedLeaf: Data? = nil, storedChain: Data? = nil,
                             columns: AuditSearchColumns? = nil) throws(Failure) {
        let expected = tree.size
        guard index == expected else {
            if index > expected {
                throw Failure(.missingEntry, index: expected, "entry \(expected) is missing: the log goes from entry \(expected - 1) to entry \(index)")
            }
            throw Failure(.outOfOrder, index: index, "entry \(index) appears again after entry \(expected - 1): the log is out of order")
        }
        let pruned = entry.isEmpty
        let leaf: Data
        if pruned {
            leaf = try prunedLeaf(index: index, storedLeaf: storedLeaf)
        } else {
            leaf = AuditHash.leaf(entry)
            if let storedLeaf, storedLeaf != leaf {
                throw Failure(.leafHash, index: index, "entry \(index) does not verify: its bytes hash to leaf \(leaf.hexString.prefix(16))…, but the log recorded \(storedLeaf.hexString.prefix(16))… when it was written; the entry was changed")
            }
        }
        if let storedChain {
            chain = AuditHash.chain(previous: chain, leaf: leaf)
            guard chain == storedChain else {
                throw Failure(.chainHash, index: index, "entry \(index) does not verify: the hash chain breaks here, so an entry at or before \(index) was removed, reordered or replaced")
            }
        }
        if pruned, let column = columns?.valueLeftAfterPruning() {
            throw Failure(.searchColumn, index: index, column: column, "entry \(index) does not verify: its content was pruned, but its \(column) column still holds a value; a pruned entry keeps only its index, time and hashes, so searches by \(column) would find an entry whose content is gone; the column was changed behind the log's back")
        }
        if !pruned, let columns, let d = columns.disagreement(withCanonical: entry) {
            throw Failure(.searchColumn, index: index, column: d.column, d.column == "entry"
                ? "entry \(index) does not verify: its bytes are not an audit entry, so the columns searched beside it cannot be checked"
                : "entry \(index) does not verify: its \(d.column) column says \(d.stored), but the hashed entry says \(d.canonical); searches by \(d.column) (audit entries --\(d.column == "time" ? "since/--until" : d.column)) would miss it or find it where it does not belong; the column was changed behind the log's back")
        }
        if let referenceLeaves, index < referenceLeaves.count, referenceLeaves[Int(index)] != leaf {
            throw Failure(.reference, index: index, "entry \(index) does not verify: it differs from entry \(index) of the earlier export, so the log was changed or rewritten from entry \(index) on")
        }
        for node in tree.append(leafHash: leaf) where node.level >= lowestStoredLevel {
            guard let storedNodes else { break }
            let stored = storedNodes[node.level]?[node.index]
            guard stored == node.hash else {
                let what = stored == nil ? "is missing from the store" : "does not match them"
                throw Failure(.storedNode, index: node.leaves.lowerBound, rangeEnd: node.leaves.upperBound,
                              "the stored Merkle node over entries \(node.leaves.lowerBound)..<\(node.leaves.upperBound) \(what): an entry in that range was changed, or the node was; proofs over it would not verify")
            }
        }
        if pruned {
            if learnsKeys { keepRoot() }
        } else {
            if let record = AuditPruning.record(index: index, inCanonical: entry) { pruneRecords.append(record) }
            if learnsKeys { try readRotation(index: index, entry: entry) }
        }
        try checkRootsAtCurrentSize()
    }

    /// The leaf of an entry that came without content: the stored one, taken as given, while the
    /// log is still in its pruned prefix. Whether a prune entry vouches for the prefix is known
    /// only once the entries after it are read (`prunedSummary`).
    private mutating func prunedLeaf(index: Int64, storedLeaf: Data?) throws(Failure) -> Data {
        guard index == prunedPrefix else {
            throw Failure(.pruned, index: index, "entry \(index) does not verify: it has no content, but entry \(prunedPrefix) before it has; the gateway prunes the log only from its start (audit-retention), so this entry's content was removed behind the log's back")
        }
        guard let storedLeaf, storedLeaf.count == 32 else {
            throw Failure(.pruned, index: index, "entry \(index) does not verify: it has no content and the source gives no leaf hash for it, so nothing binds it to the signed checkpoints")
        }
        prunedPrefix = index + 1
        return storedLeaf
    }

    /// The pruned prefix, if any, with the `audit.pruned` entry that vouches for it: one by the
    /// gateway that names a boundary at or beyond the prefix, covered by a verified checkpoint.
    private func prunedSummary() throws(Failure) -> PrunedPrefix? {
        guard prunedPrefix > 0 else { return nil }
        let end = prunedPrefix
        let sizes = verified.map(\.checkpoint.size)
        let largest = sizes.max() ?? 0
        let covered = pruneRecords.filter { $0.index < largest }
        if let r = covered.first(where: { $0.prunedBelow >= end }) {
            return PrunedPrefix(entries: end, record: r, coveredBySize: sizes.filter { $0 > r.index }.min() ?? largest, prunes: pruneRecords.count)
        }
        // The first pruned entry nothing vouches for.
        let vouched = covered.map(\.prunedBelow).max() ?? 0
        if let r = pruneRecords.first(where: { $0.prunedBelow >= end }) {
            throw Failure(.pruned, index: vouched, rangeEnd: end, "entries \(vouched)..<\(end) do not verify: they have no content, and entry \(r.index) (\(AuditPruning.action)) records pruning them, but no checkpoint signed by a key you trust covers that entry (the largest that verified has \(largest) entries), so nothing signed vouches that the gateway pruned them; fetch a newer checkpoint (GET /v1/audit/checkpoint) and verify again")
        }
        if vouched > 0 {
            throw Failure(.pruned, index: vouched, rangeEnd: end, "entries \(vouched)..<\(end) do not verify: they have no content, but the log's \(AuditPruning.action) entries record pruning only entries 0..<\(vouched); their content was removed behind the log's back")
        }
        throw Failure(.pruned, index: 0, rangeEnd: end, "entries 0..<\(end) do not verify: they have no content, but no \(AuditPruning.action) entry by the gateway records pruning them; their content was removed behind the log's back")
    }

    /// Notes what a rotation entry says. A rotation is only believed once a trusted checkpoint
    /// covers it (`verifiedRoot`); the handover note a later entry carries is checked like any
    /// other checkpoint, against the root kept for its size.
    private mutating func readRotation(index: Int64, entry: Data) throws(Failure) {
        let statement = AuditKeyRotation.statement(inCanonical: entry)
        if case .rotated(let new, let old) = statement {
            rotations.append(Rotation(index: index, new: new, old: old))
            keepRootsThrough = max(keepRootsThrough, index + Self.handoverWindow)
        }
        keepRoot()
        if case .handover(let note) = statement, notesSeen.insert(note).inserted,
           let claimed = try? AuditCheckpoint.unverified(note), claimed.size == tree.size || pastRoots[claimed.size] != nil {
            try admit(LabeledNote(note: note, label: "the handover checkpoint in entry \(index) (size \(claimed.size))"))
        }
    }

    private mutating func keepRoot() {
        if tree.size <= keepRootsThrough || wantedRoots.contains(tree.size) { pastRoots[tree.size] = tree.rootHash() }
    }

    /// Opens `n` with a key trusted at its size, or keeps it for when one is learned.
    private mutating func admit(_ n: LabeledNote) throws(Failure) {
        let claimed: AuditCheckpoint
        do { claimed = try AuditCheckpoint.unverified(n.note) } catch {
            throw Failure(.checkpointSignature, index: nil, "\(n.label) does not verify: \((error as? AuditLogError)?.message ?? "\(error)")")
        }
        if let root = try openTrusted(n.note, label: n.label, size: claimed.size) {
            try accept(root)
        } else {
            deferred.append(Deferred(note: n.note, label: n.label, size: claimed.size))
            wantedRoots.insert(claimed.size)
        }
    }

    /// The note opened by a key trusted for `size`, nil when none of them signed it. A signature
    /// by a trusted key that does not verify, or a note that is not a checkpoint of this log, is
    /// thrown: no later key changes that.
    private mutating func openTrusted(_ note: String, label: String, size: Int64) throws(Failure) -> SignedRoot? {
        var problems: [String] = []
        for t in trust where t.info.accepts(size: size) {
            let c: AuditCheckpoint
            do { c = try AuditCheckpoint.parse(note, verifier: t.key) } catch let error as AuditLogError {
                if error.code != .unknownKey { problems.append(error.message) }
                continue
            } catch {
                problems.append("\(error)")
                continue
            }
            if let origin, c.origin != origin {
                throw Failure(.checkpointSignature, index: nil, "\(label) is for the log \"\(c.origin)\", not this log (\"\(origin)\")")
            }
            origin = c.origin
            return SignedRoot(label: label, checkpoint: .init(origin: c.origin, size: c.size, rootHash: c.rootHash, time: c.time),
                              signedBy: t.key.description)
        }
        guard problems.isEmpty else { throw Failure(.checkpointSignature, index: nil, "\(label) does not verify: \(problems.joined(separator: "; "))") }
        return nil
    }

    /// Checks an opened root now if the tree has reached its size, else when it does.
    private mutating func accept(_ root: SignedRoot) throws(Failure) {
        let size = root.checkpoint.size
        guard size <= tree.size else {
            pending.insert(root, at: pending.firstIndex { $0.checkpoint.size > size } ?? pending.endIndex)
            return
        }
        guard let actual = size == tree.size ? tree.rootHash() : pastRoots[size] else {
            throw Failure(.checkpointRoot, index: nil, "\(root.label) (size \(size)) opened only after entry \(tree.size - 1), and the root at its size was not kept, so it cannot be checked")
        }
        guard actual == root.checkpoint.rootHash else { throw rootMismatch(root) }
        try verifiedRoot(root)
    }

    private func rootMismatch(_ next: SignedRoot) -> Failure {
        let size = next.checkpoint.size
        let good = verified.map(\.checkpoint.size).filter { $0 <= size }.max() ?? 0
        let bound = good > 0 ? "entries 0..<\(good) still match the signed checkpoint of size \(good), so " : ""
        return Failure(.checkpointRoot, index: size - good == 1 ? size - 1 : good, rangeEnd: size,
                       "the first \(size) entries do not hash to the root signed in \(next.label) (size \(size), \(Instant.format(next.checkpoint.time))): \(bound)an entry in \(good)..<\(size) was changed, removed, reordered or replaced\(size - good > 1 ? "; verify against an earlier export (--checkpoint EXPORT) to name the exact entry" : "")")
    }

    /// A root matched: count it, and let it vouch for the rotations it covers.
    private mutating func verifiedRoot(_ root: SignedRoot) throws(Failure) {
        verified.append(root)
        guard let signer = root.signedBy, let t = trust.firstIndex(where: { $0.info.verifierKey == signer }) else { return }
        trust[t].info.checkpoints += 1
        let size = root.checkpoint.size
        for r in rotations.indices where rotations[r].index < size {
            if rotations[r].vouchedAt == nil {
                rotations[r].vouchedAt = size
                handOver(rotations[r], at: size, by: signer)
            }
            if !rotations[r].successorSigned, rotations[r].new.description == signer {
                rotations[r].successorSigned = true
                if let old = rotations[r].old, let o = trust.firstIndex(where: { $0.info.verifierKey == old.description }),
                   o != t, (trust[o].info.throughSize ?? .max) >= size {
                    trust[o].info.throughSize = size
                    trust[o].info.retiredFor = signer
                }
            }
        }
    }

    /// A covered rotation: its new key is trusted from `size` on and, when it was not trusted
    /// already, its old key up to `size` (whose roots the covering checkpoint already vouches for).
    private mutating func handOver(_ r: Rotation, at size: Int64, by signer: String) {
        if let n = trust.firstIndex(where: { $0.info.verifierKey == r.new.description }) {
            if trust[n].info.source == .predecessor { trust[n].info.throughSize = nil }
            trust[n].info.fromSize = min(trust[n].info.fromSize, size)
        } else {
            trust.append(Trust(key: r.new, info: TrustedKey(verifierKey: r.new.description, source: .handedOver, fromSize: size,
                                                             rotationEntry: r.index, vouchedAtSize: size, vouchedBy: signer)))
        }
        if let old = r.old, !trust.contains(where: { $0.info.verifierKey == old.description }) {
            trust.append(Trust(key: old, info: TrustedKey(verifierKey: old.description, source: .predecessor, fromSize: 0, throughSize: size,
                                                           rotationEntry: r.index, vouchedAtSize: size, vouchedBy: signer)))
        }
        trustChanged = true
    }

    private mutating func checkRootsAtCurrentSize() throws(Failure) {
        while let next = pending.first, next.checkpoint.size == tree.size {
            pending.removeFirst()
            // A key can be retired after its checkpoint was opened, when its successor signs a smaller tree.
            if let signer = next.signedBy, let t = trust.first(where: { $0.info.verifierKey == signer }), !t.info.accepts(size: tree.size) {
                throw Failure(.checkpointSignature, index: nil, "\(next.label) is refused: \(t.info.refusal(size: tree.size))")
            }
            guard tree.rootHash() == next.checkpoint.rootHash else { throw rootMismatch(next) }
            try verifiedRoot(next)
        }
        // Keys learned just now may open notes that were waiting.
        while trustChanged {
            trustChanged = false
            var i = 0
            while i < deferred.count {
                let d = deferred[i]
                if let root = try openTrusted(d.note, label: d.label, size: d.size) {
                    deferred.remove(at: i)
                    try accept(root)
                } else {
                    i += 1
                }
            }
        }
    }

    /// Why a note no trusted key opened fails: signed by a trusted key outside the sizes it is
    /// trusted for, or by no key the check trusts, with the rotation that was not covered if any.
    private func unopened(_ d: Deferred) -> Failure {
        for t in trust where (try? AuditCheckpoint.parse(d.note, verifier: t.key)) != nil {
            return Failure(.checkpointSignature, index: nil, "\(d.label) is refused: \(t.info.refusal(size: d.size))")
        }
        var message: String
        do { _ = try Self.open(d.note, label: d.label, verifiers: trust.map(\.key)); message = "\(d.label) does not verify" } catch {
            message = error.message
        }
        if let r = rotations.first(where: { $0.vouchedAt == nil }) {
            message += "; entry \(r.index) (\(AuditKeyRotation.rotatedAction)) names the key \(r.new), but no checkpoint signed by a key you trust covers that entry, so that key is not trusted: pin it with --verifier-key only once you have checked it out of band"
        }
        if prunedPrefix > 0 {
            message += "; the content of entries 0..<\(prunedPrefix) was pruned (audit-retention), so a key rotation recorded there can no longer be read: pin the key that signed this checkpoint too (repeat --verifier-key) once you have checked it out of band"
        }
        return Failure(.checkpointSignature, index: nil, message)
    }

    /// Ends the check. `storedTree` is the source's saved right edge, if it keeps one.
    public func finish(storedTree: MerkleTree? = nil) throws(Failure) -> Summary {
        if let d = deferred.first { throw unopened(d) }
        if let referenceLeaves, referenceLeaves.count > tree.size {
            throw Failure(.truncated, index: tree.size, "entry \(tree.size) does not verify: the earlier export has \(referenceLeaves.count) entries, this log only \(tree.size); the log was truncated")
        }
        if let next = pending.first {
            throw Failure(.truncated, index: tree.size, rangeEnd: next.checkpoint.size,
                          "entry \(tree.size) does not verify: \(next.label) signed \(next.checkpoint.size) entries, but the log ends after \(tree.size); entries \(tree.size)..<\(next.checkpoint.size) were removed")
        }
        if let storedTree {
            guard storedTree.size == tree.size else {
                throw Failure(.truncated, index: min(storedTree.size, tree.size),
                              "the store's tree state counts \(storedTree.size) entries but the log has \(tree.size); entries were removed or added outside the gateway")
            }
            if storedTree.frontier != tree.frontier {
                // Name the first subtree of the right edge that differs.
                var start: Int64 = 0
                var level = 63
                for (stored, computed) in zip(storedTree.frontier, tree.frontier) {
                    repeat { level -= 1 } while tree.size & (Int64(1) << level) == 0
                    if stored != computed {
                        throw Failure(.treeState, index: start, rangeEnd: start + (Int64(1) << level),
                                      "the store's saved tree edge over entries \(start)..<\(start + (Int64(1) << level)) does not match the entries: an entry in that range was changed, or the saved state was")
                    }
                    start += Int64(1) << level
                }
            }
        }
        guard !verified.isEmpty else {
            throw Failure(.noCheckpoint, index: nil, "no signed checkpoint covers this log: its \(tree.size) entries are consistent, but nothing signed vouches for them; fetch one (GET /v1/audit/checkpoint) and verify again")
        }
        let pruned = try prunedSummary()
        return Summary(entries: tree.size, rootHash: tree.rootHash(), verifiedCheckpoints: verified.sorted { $0.checkpoint.size < $1.checkpoint.size },
                       keys: trust.map(\.info), pruned: pruned)
    }
}
