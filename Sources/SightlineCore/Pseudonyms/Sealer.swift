import Crypto
import Foundation

/// Seals data at rest with AES-GCM under the key file's sealing key: receipts (which name an
/// agency's own references) and, later, references kept for forwarding.
public struct Sealer: Sendable {
    let key: SymmetricKey

    public init(keys: KeyMaterial) { key = keys.sealingKey }

    public func seal(_ plaintext: Data) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw SightlineError(.store, "could not seal data")
        }
        return combined
    }

    public func open(_ sealed: Data) throws -> Data {
        try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key)
    }
}
