import Foundation

/// RFC 9162 §2.1.3.2 and §2.1.4.2 proof verification, step for step. It shares only the node
/// hash with the code that builds trees and proofs, so a mistake there cannot hide itself here.
public enum MerkleVerify {
    /// Whether `proof` shows that `leafHash` is leaf `index` of the tree of `size` leaves whose
    /// root is `root`.
    public static func inclusion(leafHash: Data, index: Int64, size: Int64, proof: [Data], root: Data) -> Bool {
        guard index >= 0, index < size, leafHash.count == 32, root.count == 32,
              proof.allSatisfy({ $0.count == 32 }) else { return false }
        var fn = UInt64(index), sn = UInt64(size - 1)
        var r = leafHash
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHash.node(p, r)
                // A left child with no right sibling (fn == sn) is carried up unchanged.
                while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
            } else {
                r = MerkleHash.node(r, p)
            }
            fn >>= 1; sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows that the tree of `newSize` leaves with root `newRoot` is the tree of
    /// `oldSize` leaves with root `oldRoot` with leaves appended and nothing else changed.
    public static func consistency(oldSize: Int64, newSize: Int64, oldRoot: Data, newRoot: Data, proof: [Data]) -> Bool {
        guard oldSize >= 0, oldSize <= newSize, oldRoot.count == 32, newRoot.count == 32,
              proof.allSatisfy({ $0.count == 32 }) else { return false }
        // Outside the RFC's 0 < first < second: nothing to prove, so the proof must be empty.
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty && oldRoot == MerkleHash.empty }

        // 1. An empty path proves nothing.
        if proof.isEmpty { return false }
        // 2. If first is an exact power of 2, the old root is itself a node of the new tree.
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        // 3.-4.
        var fn = UInt64(oldSize - 1), sn = UInt64(newSize - 1)
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        // 5.
        var fr = path[0], sr = path[0]
        // 6.
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHash.node(c, fr)
                sr = MerkleHash.node(c, sr)
                while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
            } else {
                sr = MerkleHash.node(sr, c)
            }
            fn >>= 1; sn >>= 1
        }
        // 7.
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}
