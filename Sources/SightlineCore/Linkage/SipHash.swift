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

    @inline(__always) static func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }

    func hash(_ parts: UnsafeRawBufferPointer...) -> UInt64 {
        var v0: UInt64 = 0x736f6d6570736575 ^ k0
        var v1: UInt64 = 0x646f72616e646f6d ^ k1
        var v2: UInt64 = 0x6c7967656e657261 ^ k0
        var v3: UInt64 = 0x7465646279746573 ^ k1
        @inline(__always) func round() {
            v0 &+= v1; v1 = Self.rotl(v1, 13); v1 ^= v0; v0 = Self.rotl(v0, 32)
            v2 &+= v3; v3 = Self.rotl(v3, 16); v3 ^= v2
            v0 &+= v3; v3 = Self.rotl(v3, 21); v3 ^= v0
            v2 &+= v1; v1 = Self.rotl(v1, 17); v1 ^= v2; v2 = Self.rotl(v2, 32)
        }
        var m: UInt64 = 0, filled: UInt64 = 0, length: UInt64 = 0
        for part in parts {
            for byte in part {
                m |= UInt64(byte) << (8 * filled)
                filled += 1; length += 1
                if filled == 8 {
                    v3 ^= m; round(); round(); v0 ^= m
                    m = 0; filled = 0
                }
            }
        }
        m |= (length & 0xff) << 56
        v3 ^= m; round(); round(); v0 ^= m
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
