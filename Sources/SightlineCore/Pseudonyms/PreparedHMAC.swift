import Crypto
import Foundation

/// HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once, fed from raw bytes.
/// Gives exactly `HMAC<SHA256>`'s codes; swift-crypto's `update(data:)` is generic over
/// DataProtocol and went through unspecialised generic code for every key the gateway derives
/// (about a sixth of the ingest CPU at 100,000 children). A prefix (a key's domain) can be fed
/// once and the state copied for every value under it.
public struct PreparedHMAC: Sendable {
    private var inner = SHA256()
    private var outer = SHA256()

    public init(key: SymmetricKey) {
        var block = key.withUnsafeBytes { Array($0) }
        if block.count > 64 { block = Array(SHA256.hash(data: block)) }
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let ipad = block.map { $0 ^ 0x36 }, opad = block.map { $0 ^ 0x5c }
        ipad.withUnsafeBytes { inner.update(bufferPointer: $0) }
        opad.withUnsafeBytes { outer.update(bufferPointer: $0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { inner.update(bufferPointer: bytes) }

    public mutating func update(_ byte: UInt8) { withUnsafeBytes(of: byte) { inner.update(bufferPointer: $0) } }

    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { inner.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    public mutating func update(_ text: StaticString) {
        text.withUTF8Buffer { inner.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    /// This state with `prefix` and a separator byte fed: the start of every code in a domain.
    public func prefixed(_ prefix: String, separator: UInt8) -> PreparedHMAC {
        var h = self
        h.update(prefix); h.update(separator)
        return h
    }

    public func finalize() -> SHA256.Digest {
        let innerDigest = inner.finalize()
        var o = outer
        innerDigest.withUnsafeBytes { o.update(bufferPointer: $0) }
        return o.finalize()
    }

    /// The code as Data, its first `length` bytes.
    public func code(length: Int = 32) -> Data {
        finalize().withUnsafeBytes { Data($0.prefix(length)) }
    }
}
