/// A failure of the audit log's mathematics: a proof that cannot be answered, a tree state that
/// does not add up, or a checkpoint that does not open. Tests compare `code`; `message` says what
/// to do about it and never contains entry contents.
public struct AuditLogError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A proof was asked for sizes or an index the tree does not have (an HTTP 400).
        case proofRange = "proof-range"
        /// Stored hashes are missing or the wrong length: the store is damaged (an HTTP 500).
        case storedHashes = "stored-hashes"
        /// A saved (size, frontier) pair cannot describe any tree.
        case treeState = "tree-state"
        /// The text is not a signed note, or its body is not a checkpoint.
        case malformed = "malformed"
        /// A key name or verifier key is unusable.
        case key = "key"
        /// No signature on the note is from the expected key: signed by another key, or not at all.
        case unknownKey = "unknown-key"
        /// The expected key signed the note but the signature does not verify: the text was changed.
        case badSignature = "bad-signature"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code; self.message = message
    }

    public var description: String { message }
}
