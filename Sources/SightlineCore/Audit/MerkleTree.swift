import Foundation

/// The right edge of the audit log's Merkle tree: enough to append a leaf and give the root in
/// O(log n) hashes without reading any earlier entry.
///
/// A tree of `size` leaves splits into one complete subtree per set bit of `size`, largest
/// first (RFC 9162's split at the largest power of two, applied again to the rest). `frontier`
/// holds those subtrees' hashes, so it has `size.nonzeroBitCount` entries, at most 63. Appending
/// a leaf merges equal-sized subtrees like a binary carry; each merge completes a node that
/// never changes again, and `append` hands those back for the store to keep for proofs.
public struct MerkleTree: Sendable, Equatable {
    public private(set) var size: Int64
    /// Complete-subtree hashes, largest (leftmost) first. Persist it with `size` to restore.
    public private(set) var frontier: [Data]

    public init() {
        size = 0; frontier = []
    }

    /// Restores a tree saved as (`size`, `frontier`).
    public init(size: Int64, frontier: [Data]) throws {
        guard size >= 0, frontier.count == size.nonzeroBitCount else {
            throw AuditLogError(.treeState, "a tree of \(size) leaves has \(max(size, 0).nonzeroBitCount) frontier hashes, not \(frontier.count); the saved tree state is damaged, rebuild it with MerkleTree(size:nodes:)")
        }
        guard frontier.allSatisfy({ $0.count == 32 }) else {
            throw AuditLogError(.treeState, "a frontier hash is not 32 bytes; the saved tree state is damaged, rebuild it with MerkleTree(size:nodes:)")
        }
        self.size = size; self.frontier = frontier
    }

    /// Rebuilds the frontier of the tree of `size` leaves from stored hashes (one lookup per
    /// frontier subtree when the store kept the nodes `append` reported).
    public init(size: Int64, nodes: some MerkleNodeSource) throws {
        guard size >= 0 else { throw AuditLogError(.treeState, "a tree cannot have \(size) leaves") }
        var frontier: [Data] = []
        var start: Int64 = 0
        for level in stride(from: 62, through: 0, by: -1) where size & (Int64(1) << level) != 0 {
            frontier.append(try nodes.subtreeHash(start: start, count: Int64(1) << level))
            start += Int64(1) << level
        }
        self.size = size; self.frontier = frontier
    }

    /// Adds the leaf hash (`AuditHash.leaf(entry)`) as leaf number `size` and returns the
    /// interior nodes this completed, lowest first. Amortised two hashes, at most log2(n).
    @discardableResult
    public mutating func append(leafHash: Data) -> [MerkleNode] {
        precondition(leafHash.count == 32, "a leaf hash is 32 bytes")
        let index = size
        var hash = leafHash
        var completed: [MerkleNode] = []
        var level = 0
        // Each set low bit of the old size is a complete subtree of that height ending just
        // before the new leaf: merge it, and carry on while the carry propagates.
        while (index >> level) & 1 == 1 {
            hash = MerkleHash.node(frontier.removeLast(), hash)
            level += 1
            completed.append(MerkleNode(level: level, index: index >> level, hash: hash))
        }
        frontier.append(hash)
        size += 1
        return completed
    }

    /// The Merkle Tree Hash of all `size` leaves: the frontier folded from the right.
    public func rootHash() -> Data {
        guard var root = frontier.last else { return MerkleHash.empty }
        for left in frontier.dropLast().reversed() {
            root = MerkleHash.node(left, root)
        }
        return root
    }
}
