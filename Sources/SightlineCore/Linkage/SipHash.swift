/// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudorandom function with a 128-bit key
/// and a 64-bit output, designed for short inputs. Linkage derives dozens of short tokens per
/// record (one per deleted letter, masked digit, bigram); HMAC-SHA256 for each cost ten times
/// more than everything else on the ingest path. The tokens are compared only inside the gateway
/// and sealed at rest; the indexed blocking and strong keys stay HMAC-SHA256.
struct SipHash24: Sendable {
    let k0: UInt64
    let k1: UInt64

    init(key: [UInt8]) {
        precondition(key.count == 16, "SipHash takes a 128-bit key")
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(key[i + $1]) << (8 * UInt64($1)) } }
        k0 = word(0); k1 = word(8)
    }

    /// A fresh state under this key; feed it bytes, then `finalize()`. Copying a state that has
    /// taken a common prefix (a token's domain) is how one prefix is hashed once for many tokens.
    func hasher() -> SipHasher { SipHasher(k0: k0, k1: k1) }

    func hash(_ parts: UnsafeRawBufferPointer...) -> UInt64 {
        var h = hasher()
        for part in parts { h.append(part.bindMemory(to: UInt8.self)) }
        return h.finalize()
    }
}

/// The incremental SipHash-2-4 state: a value type, so a copy carries on from the same prefix.
struct SipHasher: Sendable {
    private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
    private var m: UInt64 = 0, filled: UInt64 = 0, length: UInt64 = 0

    init(k0: UInt64, k1: UInt64) {
        v0 = 0x736f6d6570736575 ^ k0
        v1 = 0x646f72616e646f6d ^ k1
        v2 = 0x6c7967656e657261 ^ k0
        v3 = 0x7465646279746573 ^ k1
    }

    @inline(__always) static func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }

    @inline(__always) private mutating func round() {
        v0 &+= v1; v1 = Self.rotl(v1, 13); v1 ^= v0; v0 = Self.rotl(v0, 32)
        v2 &+= v3; v3 = Self.rotl(v3, 16); v3 ^= v2
        v0 &+= v3; v3 = Self.rotl(v3, 21); v3 ^= v0
        v2 &+= v1; v1 = Self.rotl(v1, 17); v1 ^= v2; v2 = Self.rotl(v2, 32)
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        m |= UInt64(byte) << (8 * filled)
        filled += 1; length += 1
        if filled == 8 {
            v3 ^= m; round(); round(); v0 ^= m
            m = 0; filled = 0
        }
    }

    @inline(__always) mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        for byte in bytes { append(byte) }
    }

    @inline(__always) mutating func append(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
        for byte in bytes { append(byte) }
    }

    func finalize() -> UInt64 {
        var s = self
        let last = s.m | (s.length & 0xff) << 56
        s.v3 ^= last; s.round(); s.round(); s.v0 ^= last
        s.v2 ^= 0xff
        s.round(); s.round(); s.round(); s.round()
        return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}
