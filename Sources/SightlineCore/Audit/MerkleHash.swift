import Crypto
import Foundation

/// RFC 9162 §2.1.1 hashing. The 0x00 / 0x01 prefixes keep a leaf from ever hashing like an
/// interior node, so nobody can pass off two child hashes as an entry (second preimage).
public enum MerkleHash {
    /// The root of the empty tree: SHA-256 of nothing.
    public static let empty = Data(SHA256.hash(data: Data()))

    /// SHA-256(0x00 || entry); the same function as `AuditHash.leaf`, named here for the tree.
    public static func leaf(_ entry: Data) -> Data { AuditHash.leaf(entry) }

    /// SHA-256(0x01 || left || right).
    public static func node(_ left: Data, _ right: Data) -> Data {
        var h = SHA256()
        h.update(data: [1])
        h.update(data: left)
        h.update(data: right)
        return Data(h.finalize())
    }

    /// The largest power of two strictly less than `n` (n > 1): where the RFC splits a tree of n leaves.
    public static func split(_ n: Int64) -> Int64 {
        precondition(n > 1, "only a tree of two or more leaves has a split")
        return Int64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// The Merkle Tree Hash of the given leaf hashes, straight from the RFC's recursive
    /// definition. O(n): for recomputing a whole log offline and for small subtrees.
    public static func root(of leafHashes: [Data]) -> Data { root(of: leafHashes[...]) }

    static func root(of leafHashes: ArraySlice<Data>) -> Data {
        switch leafHashes.count {
        case 0: return empty
        case 1: return leafHashes[leafHashes.startIndex]
        default:
            let mid = leafHashes.startIndex + Int(split(Int64(leafHashes.count)))
            return node(root(of: leafHashes[..<mid]), root(of: leafHashes[mid...]))
        }
    }
}
