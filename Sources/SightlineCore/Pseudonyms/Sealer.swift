import Crypto
import Foundation

/// Seals data at rest with AES-GCM under the key file's sealing key: receipts (which name an
/// agency's own references) and, later, references kept for forwarding.
///
/// After a sealing rotation it seals under the new key and opens under the new key or any
/// retired one still in the key file, until the gateway has re-sealed everything.
public struct Sealer: Sendable {
    let key: SymmetricKey
    let retired: [SymmetricKey]

    public init(keys: KeyMaterial) {
        key = keys.sealingKey
        retired = keys.history.sealing.reversed().map(\.key)
    }

    public func seal(_ plaintext: Data) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw SightlineError(.store, "could not seal data")
        }
        return combined
    }

    public func open(_ sealed: Data) throws -> Data {
        let box = try AES.GCM.SealedBox(combined: sealed)
        do { return try AES.GCM.open(box, using: key) } catch {
            // GCM's tag tells the keys apart: a value sealed under another key fails to authenticate.
            for old in retired { if let opened = try? AES.GCM.open(box, using: old) { return opened } }
            throw error
        }
    }

    /// `sealed` sealed again under the current key, or nil if it is under the current key
    /// already; throws if no key the gateway holds opens it.
    public func resealIfRetired(_ sealed: Data) throws -> Data? {
        let box = try AES.GCM.SealedBox(combined: sealed)
        if (try? AES.GCM.open(box, using: key)) != nil { return nil }
        return try seal(open(sealed))
    }
}
