import Foundation

/// The hash of a complete subtree: the 2^level leaves from `index << level` to
/// `(index + 1) << level`. Once complete a subtree never changes in an append-only log, so a
/// node stored when it completes serves every later proof.
public struct MerkleNode: Sendable, Hashable {
    public var level: Int
    public var index: Int64
    public var hash: Data

    public init(level: Int, index: Int64, hash: Data) {
        self.level = level; self.index = index; self.hash = hash
    }

    /// The leaves this node covers.
    public var leaves: Range<Int64> { (index << level)..<((index + 1) << level) }
}
