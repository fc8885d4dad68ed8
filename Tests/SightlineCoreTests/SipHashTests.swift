import Testing
@testable import SightlineCore

@Suite("SipHash-2-4")
struct SipHashTests {
    /// The reference implementation's vectors: key 00 01 .. 0f, message 00 01 .. (n-1).
    @Test("matches the published test vectors", arguments: [
        (0, 0x726fdb47dd0e0e31 as UInt64), (1, 0x74f839c593dc67fd), (7, 0xab0200f58b01d137),
        (8, 0x93f5f5799a932462), (15, 0xa129ca6149be45e5), (63, 0x958a324ceb064572),
    ])
    func vectors(_ vector: (Int, UInt64)) {
        let h = SipHash24(key: Array(0..<16))
        let message = (0..<vector.0).map { UInt8($0) }
        #expect(message.withUnsafeBytes { h.hash($0) } == vector.1)
    }

    @Test("the same bytes split differently hash the same")
    func parts() {
        let h = SipHash24(key: Array(0..<16))
        let whole: [UInt8] = Array("name-deletion\u{0}okafor".utf8)
        let a = whole.withUnsafeBytes { h.hash($0) }
        let b = Array("name-deletion".utf8).withUnsafeBytes { p in [UInt8(0)].withUnsafeBytes { z in Array("okafor".utf8).withUnsafeBytes { h.hash(p, z, $0) } } }
        #expect(a == b)
    }
}
