import Foundation

/// A whole Merkle log in memory: leaf hashes, every node `MerkleTree.append` completed, and the
/// tree. The reference for what the store must keep, and the tree behind an offline check of
/// an exported log.
public struct InMemoryMerkleLog: MerkleNodeSource, Sendable {
    public private(set) var tree = MerkleTree()
    public private(set) var leaves: [Data] = []
    private var nodes: [Int: [Data]] = [:]  // level -> hashes by index; complete nodes only

    public init() {}

    public init(leafHashes: [Data]) {
        for hash in leafHashes { append(leafHash: hash) }
    }

    public var size: Int64 { tree.size }

    public mutating func append(leafHash: Data) {
        leaves.append(leafHash)
        for node in tree.append(leafHash: leafHash) {
            nodes[node.level, default: []].append(node.hash)  // nodes complete in index order
        }
    }

    public func leafHashes(_ range: Range<Int64>) throws -> [Data] {
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw AuditLogError(.proofRange, "leaves \(range.lowerBound)..<\(range.upperBound) are not all in a log of \(size) entries")
        }
        return Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)])
    }

    public func nodeHash(level: Int, index: Int64) throws -> Data? {
        guard let row = nodes[level], index >= 0, index < row.count else { return nil }
        return row[Int(index)]
    }
}
