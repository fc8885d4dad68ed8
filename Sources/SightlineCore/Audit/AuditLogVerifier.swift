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
        public struct Checkpoint: Sendable, Equatable, Codable {
            public let origin: String
            public let size: Int64
            public let rootHash: Data
            public let time: Date
        }
    }

    public struct Summary: Sendable, Codable {
        public let entries: Int64
        public let rootHash: Data
        /// The checkpoints whose roots matched, smallest first.
        public let verifiedCheckpoints: [SignedRoot]
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
                return SignedRoot(label: label, checkpoint: .init(origin: c.origin, size: c.size, rootHash: c.rootHash, time: c.time))
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

    public var size: Int64 { tree.size }

    /// Checks the entry that should be number `size`. `columns` are the values the source keeps
    /// beside the entry for searches, when it keeps any; each must be what the entry says.
    public mutating func add(index: Int64, entry: Data, storedLeaf: Data? = nil, storedChain: Data? = nil,
                             columns: AuditSearchColumns? = nil) throws(Failure) {
        let expected = tree.size
        guard index == expected else {
            if index > expected {
                throw Failure(.missingEntry, index: expected, "entry \(expected) is missing: the log goes from entry \(expected - 1) to entry \(index)")
            }
            throw Failure(.outOfOrder, index: index, "entry \(index) appears again after entry \(expected - 1): the log is out of order")
        }
        let leaf = AuditHash.leaf(entry)
        if let storedLeaf, storedLeaf != leaf {
            throw Failure(.leafHash, index: index, "entry \(index) does not verify: its bytes hash to leaf \(leaf.hexString.prefix(16))…, but the log recorded \(storedLeaf.hexString.prefix(16))… when it was written; the entry was changed")
        }
        if let storedChain {
            chain = AuditHash.chain(previous: chain, leaf: leaf)
            guard chain == storedChain else {
                throw Failure(.chainHash, index: index, "entry \(index) does not verify: the hash chain breaks here, so an entry at or before \(index) was removed, reordered or replaced")
            }
        }
        if let columns, let d = columns.disagreement(withCanonical: entry) {
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
        try checkRootsAtCurrentSize()
    }

    private mutating func checkRootsAtCurrentSize() throws(Failure) {
        while let next = pending.first, next.checkpoint.size == tree.size {
            pending.removeFirst()
            guard tree.rootHash() == next.checkpoint.rootHash else {
                let good = verified.last.map(\.checkpoint.size) ?? 0
                let size = next.checkpoint.size
                let bound = good > 0 ? "entries 0..<\(good) still match the signed checkpoint of size \(good), so " : ""
                throw Failure(.checkpointRoot, index: size - good == 1 ? size - 1 : good, rangeEnd: size,
                              "the first \(size) entries do not hash to the root signed in \(next.label) (size \(size), \(Instant.format(next.checkpoint.time))): \(bound)an entry in \(good)..<\(size) was changed, removed, reordered or replaced\(size - good > 1 ? "; verify against an earlier export (--checkpoint EXPORT) to name the exact entry" : "")")
            }
            verified.append(next)
        }
    }

    /// Ends the check. `storedTree` is the source's saved right edge, if it keeps one.
    public func finish(storedTree: MerkleTree? = nil) throws(Failure) -> Summary {
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
        return Summary(entries: tree.size, rootHash: tree.rootHash(), verifiedCheckpoints: verified)
    }
}
