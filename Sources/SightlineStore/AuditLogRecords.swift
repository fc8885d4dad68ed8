import Foundation
import SightlineCore

/// The audit tree's size and root hash at one moment: what a checkpoint signs.
public struct AuditTreeHead: Sendable, Equatable {
    public let size: Int64
    public let rootHash: Data
    public init(size: Int64, rootHash: Data) { self.size = size; self.rootHash = rootHash }
}

/// Leaf `index` of the tree of `size` entries, its audit path (deepest sibling first) and the
/// root it leads to.
public struct AuditInclusionProof: Sendable {
    public let index: Int64
    public let size: Int64
    public let leafHash: Data
    public let rootHash: Data
    public let path: [Data]
}

/// The proof that the tree of `to` entries extends the tree of `from` entries.
public struct AuditConsistencyProof: Sendable {
    public let from: Int64
    public let to: Int64
    public let fromRoot: Data
    public let toRoot: Data
    public let path: [Data]
}

/// Which entries an auditor asks for. Every filter given must match; nil matches anything.
public struct AuditEntryFilter: Sendable {
    public var from: Int64 = 0
    public var limit: Int = 100
    /// Entries at or after this time.
    public var since: Date?
    /// Entries before this time.
    public var until: Date?
    public var actor: String?
    public var action: String?
    public var purpose: String?
    public var decision: String?
    public var rule: String?

    public init(from: Int64 = 0, limit: Int = 100) { self.from = from; self.limit = limit }
}

/// A checkpoint as the gateway signed and stored it.
public struct StoredCheckpoint: Sendable, Equatable {
    public let size: Int64
    public let rootHash: Data
    public let time: Date
    /// The C2SP signed note, byte for byte as served.
    public let note: String
    /// The verifier key (`<name>+<key ID>+<key>`) of the key that signed it.
    public let verifierKey: String

    public init(size: Int64, rootHash: Data, time: Date, note: String, verifierKey: String) {
        self.size = size; self.rootHash = rootHash; self.time = time; self.note = note; self.verifierKey = verifierKey
    }
}
