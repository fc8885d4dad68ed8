import Foundation

/// Where proofs read the log's hashes from: the store, or `InMemoryMerkleLog` in tests.
///
/// Proofs need the hashes of O(log n) subtrees. A store that keeps every node `MerkleTree.append`
/// reports answers each with one lookup; a node it does not have (nil) is recomputed from its
/// children, and at the bottom from leaf hashes, so a store may keep fewer levels and trade
/// space for reads. A node is only asked for once it is complete at the proof's tree size.
public protocol MerkleNodeSource {
    /// The leaf hashes of leaves `range`, in order, one per leaf.
    func leafHashes(_ range: Range<Int64>) throws -> [Data]
    /// The stored hash of the complete subtree (level >= 1, index), or nil if not stored.
    func nodeHash(level: Int, index: Int64) throws -> Data?
}

extension MerkleNodeSource {
    /// A source that stores no interior nodes: everything is recomputed from leaves.
    public func nodeHash(level: Int, index: Int64) throws -> Data? { nil }
}

/// Below this height a missing node is recomputed from one batched read of its leaves (at most
/// 64) instead of recursing through lookups that would also miss.
private let leafBatchLevel = 6

extension MerkleNodeSource {
    /// The Merkle Tree Hash of leaves `start ..< start + count`, where `start` is a multiple of
    /// the smallest power of two >= `count`: the shape of every subtree the RFC's proofs name.
    func subtreeHash(start: Int64, count: Int64) throws -> Data {
        if count & (count - 1) == 0 {
            let level = count.trailingZeroBitCount
            return try completeNode(level: level, index: start >> level)
        }
        let k = MerkleHash.split(count)
        return MerkleHash.node(try subtreeHash(start: start, count: k), try subtreeHash(start: start + k, count: count - k))
    }

    private func completeNode(level: Int, index: Int64) throws -> Data {
        if level > 0, let stored = try nodeHash(level: level, index: index) {
            guard stored.count == 32 else {
                throw AuditLogError(.storedHashes, "the stored hash of node (\(level), \(index)) is \(stored.count) bytes, not 32; the audit store is damaged")
            }
            return stored
        }
        if level > leafBatchLevel {
            return MerkleHash.node(try completeNode(level: level - 1, index: 2 * index),
                                   try completeNode(level: level - 1, index: 2 * index + 1))
        }
        let range = (index << level)..<((index + 1) << level)
        let leaves = try leafHashes(range)
        guard leaves.count == range.count, leaves.allSatisfy({ $0.count == 32 }) else {
            throw AuditLogError(.storedHashes, "the store returned \(leaves.count) leaf hashes for leaves \(range.lowerBound)..<\(range.upperBound), or one not 32 bytes; the audit store is damaged")
        }
        return MerkleHash.root(of: leaves)
    }
}
