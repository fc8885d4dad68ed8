import Foundation

/// RFC 9162 inclusion and consistency proofs for the tree of any size the log has reached,
/// built from stored subtree hashes rather than by rehashing the log.
///
/// The caller checks that the sizes asked for are not beyond its current tree size; the
/// source throws (or returns too few leaves) when asked for leaves it does not have.
public enum MerkleProofs {
    /// The root hash of the tree of the first `size` leaves.
    public static func rootHash(size: Int64, nodes: some MerkleNodeSource) throws -> Data {
        guard size >= 0 else { throw AuditLogError(.proofRange, "tree size \(size) is negative") }
        return size == 0 ? MerkleHash.empty : try nodes.subtreeHash(start: 0, count: size)
    }

    /// The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1),
    /// deepest sibling first: at most ceil(log2(size)) hashes.
    public static func inclusion(index: Int64, size: Int64, nodes: some MerkleNodeSource) throws -> [Data] {
        guard index >= 0, index < size else {
            throw AuditLogError(.proofRange, "leaf \(index) is not in a tree of \(size) leaves; ask for an index below the tree size")
        }
        // PATH(m, D[n]) recurses into the half holding m and appends the other half's hash;
        // walking down from the root collects those hashes top first, so reverse at the end.
        var path: [Data] = []
        var start: Int64 = 0, count = size
        while count > 1 {
            let k = MerkleHash.split(count)
            if index < start + k {
                path.append(try nodes.subtreeHash(start: start + k, count: count - k))
                count = k
            } else {
                path.append(try nodes.subtreeHash(start: start, count: k))
                start += k; count -= k
            }
        }
        return path.reversed()
    }

    /// The proof that the tree of `to` leaves extends the tree of `from` leaves
    /// (RFC 9162 §2.1.4.1). Empty when `from` is 0 or equal to `to`: there is nothing to prove.
    public static func consistency(from: Int64, to: Int64, nodes: some MerkleNodeSource) throws -> [Data] {
        guard from >= 0, from <= to else {
            throw AuditLogError(.proofRange, "cannot prove a tree of \(to) leaves extends one of \(from); ask with from <= to")
        }
        guard from > 0, from < to else { return [] }
        // SUBPROOF(m, D[n], b): while m is inside the left half, the right half's hash is
        // needed; once m reaches into the right half, the left half's hash is needed and the
        // old tree is no longer a prefix subtree (b = false), so its own subtree hash is too.
        var proof: [Data] = []
        var start: Int64 = 0, m = from, n = to, wholeOldTree = true
        while m != n {
            let k = MerkleHash.split(n)
            if m <= k {
                proof.append(try nodes.subtreeHash(start: start + k, count: n - k))
                n = k
            } else {
                proof.append(try nodes.subtreeHash(start: start, count: k))
                start += k; m -= k; n -= k
                wholeOldTree = false
            }
        }
        if !wholeOldTree {
            proof.append(try nodes.subtreeHash(start: start, count: m))
        }
        return proof.reversed()
    }
}
