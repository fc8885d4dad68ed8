import Crypto
import Foundation
import Testing
@testable import SightlineCore

/// Published RFC 6962 vectors. The eight leaves and the roots, node hashes, compact trees and
/// proofs for them are those of Certificate Transparency's C++ merkle_tree_test.cc as carried
/// by transparency-dev/merkle (testonly/constants.go, proof/verify_test.go); the larger roots
/// are transparency-dev/merkle compact/range_test.go TestGetRootHashGolden; the hasher vectors
/// are rfc6962/rfc6962_test.go.
private enum CTVectors {
    static let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f"].map { d($0) }

    /// Root of the tree of the first `i` leaves, from the empty tree to all eight.
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map { d($0) }

    /// Every complete subtree of the eight-leaf tree: nodes[level][index].
    static let nodes = [[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ], [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ], [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ], [
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]].map { $0.map { d($0) } }

    /// The compact tree (our frontier) after each append, as (level, index) into `nodes`.
    static let frontiers: [[(Int, Int)]] = [
        [], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)], [(2, 0), (1, 2)],
        [(2, 0), (1, 2), (0, 6)], [(3, 0)],
    ]

    /// (index, size, audit path). verify_test.go numbers leaves from 1; these are 0-based.
    static let inclusion: [(Int64, Int64, [String])] = [
        (0, 1, []),
        (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ]

    /// (old size, new size, proof).
    static let consistency: [(Int64, Int64, [String])] = [
        (1, 1, []),
        (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    ]

    /// Roots of trees whose leaf i is the two bytes (i & 0xff, i >> 8), base64.
    static let largeRoots: [(Int, String)] = [
        (10, "VjWMPSYNtCuCNlF/RLnQy6HcwSk6CIipfxm+hettA+4="),
        (15, "j4SulYmocFuxdeyp12xXCIgK6PekBcxzAIj4zbQzNEI="),
        (16, "c+4Uc6BCMOZf/v3NZK1kqTUJe+bBoFtOhP+P3SayKRE="),
        (100, "dUh9hYH88p0CMoHkdr1wC2szbhcLAXOejWpINIooKUY="),
        (255, "SmdsuKUqiod3RX2jyF2M6JnbdE4QuTwwipfAowI4/i0="),
        (256, "qFI0t/tZ1MdOYgyPpPzHFiZVw86koScXy9q3FU5casA="),
        (1000, "RXrgb8xHd55Y48FbfotJwCbV82Kx22LZfEbmBGAvwlQ="),
        (4095, "cWRFdQhPcjn9WyBXE/r1f04ejxIm5lvg40DEpRBVS0w="),
        (4096, "6uU/phfHg1n/GksYT6TO9aN8EauMCCJRl3dIK0HDs2M="),
        (10000, "VZcav65F9haHVRk3wre2axFoBXRNeUh/1d9d5FQfxIg="),
        (65535, "iPuVYJhP6SEE4gUFp8qbafd2rYv9YTCDYqAxCj8HdLM="),
    ]

    static func d(_ hex: String) -> Data { Data(hex: hex)! }
}

/// The RFC's recursive definitions (§2.1.1, §2.1.3.1, §2.1.4.1) over a plain array, with their
/// own SHA-256 calls: an implementation that shares nothing with the code under test.
private enum Reference {
    static func node(_ l: Data, _ r: Data) -> Data { Data(SHA256.hash(data: Data([1]) + l + r)) }
    static func k(_ n: Int) -> Int { var k = 1; while k * 2 < n { k *= 2 }; return k }

    static func mth(_ d: ArraySlice<Data>) -> Data {
        if d.isEmpty { return Data(SHA256.hash(data: Data())) }
        if d.count == 1 { return d.first! }
        let mid = d.startIndex + k(d.count)
        return node(mth(d[..<mid]), mth(d[mid...]))
    }

    static func path(_ m: Int, _ d: ArraySlice<Data>) -> [Data] {
        if d.count <= 1 { return [] }
        let mid = d.startIndex + k(d.count)
        return m < k(d.count) ? path(m, d[..<mid]) + [mth(d[mid...])] : path(m - k(d.count), d[mid...]) + [mth(d[..<mid])]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<Data>, _ b: Bool) -> [Data] {
        if m == d.count { return b ? [] : [mth(d)] }
        let mid = d.startIndex + k(d.count)
        return m <= k(d.count) ? subproof(m, d[..<mid], b) + [mth(d[mid...])]
                               : subproof(m - k(d.count), d[mid...], false) + [mth(d[..<mid])]
    }
}

/// A source with only some levels stored, as a store that saves space would be.
private struct SparseNodes: MerkleNodeSource {
    let log: InMemoryMerkleLog
    let keeps: (Int) -> Bool
    func leafHashes(_ range: Range<Int64>) throws -> [Data] { try log.leafHashes(range) }
    func nodeHash(level: Int, index: Int64) throws -> Data? { keeps(level) ? try log.nodeHash(level: level, index: index) : nil }
}

/// A source that has only leaves and uses the protocol's default for nodes.
private struct LeavesOnly: MerkleNodeSource {
    let leaves: [Data]
    func leafHashes(_ range: Range<Int64>) throws -> [Data] { Array(leaves[Int(range.lowerBound)..<Int(range.upperBound)]) }
}

private func flipped(_ data: Data, bit: Int = 3) -> Data {
    var copy = data
    copy[copy.startIndex] ^= UInt8(1 << bit)
    return copy
}

/// Distinct leaf hashes for property tests.
private func testLeaves(_ n: Int) -> [Data] {
    (0..<n).map { AuditHash.leaf(Data("entry \($0)".utf8)) }
}

@Suite("Merkle tree (RFC 9162)")
struct MerkleTreeTests {
    @Test("leaf, node and empty-tree hashes match the RFC 6962 hasher vectors")
    func hashing() {
        #expect(MerkleHash.empty.hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(MerkleHash.leaf(Data()).hexString == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        #expect(MerkleHash.leaf(Data("L123456".utf8)).hexString == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        #expect(MerkleHash.node(Data("N123".utf8), Data("N456".utf8)).hexString == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
        #expect([2, 3, 4, 5, 8, 9, 70].map { MerkleHash.split(Int64($0)) } == [1, 2, 2, 4, 4, 8, 64])
    }

    @Test("appending the eight CT leaves gives the published root, frontier and completed nodes at every size")
    func ctTree() throws {
        var tree = MerkleTree()
        #expect(tree.rootHash() == CTVectors.roots[0])
        var completed: [MerkleNode] = []
        for (i, leaf) in CTVectors.leaves.enumerated() {
            completed += tree.append(leafHash: MerkleHash.leaf(leaf))
            #expect(tree.size == Int64(i + 1))
            #expect(tree.rootHash() == CTVectors.roots[i + 1], "size \(i + 1)")
            #expect(tree.frontier == CTVectors.frontiers[i + 1].map { CTVectors.nodes[$0.0][$0.1] }, "size \(i + 1)")
            #expect(MerkleHash.root(of: CTVectors.leaves[...i].map(MerkleHash.leaf)) == CTVectors.roots[i + 1])
        }
        let expected = (1...3).flatMap { level in
            CTVectors.nodes[level].enumerated().map { MerkleNode(level: level, index: Int64($0.offset), hash: $0.element) }
        }
        #expect(Set(completed) == Set(expected))
        #expect(completed.count == expected.count)
    }

    @Test("roots of larger trees match transparency-dev's golden values", arguments: CTVectors.largeRoots)
    func largeRoots(size: Int, base64: String) throws {
        let leaves = (0..<size).map { MerkleHash.leaf(Data([UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)])) }
        let log = InMemoryMerkleLog(leafHashes: leaves)
        let want = try #require(Data(base64Encoded: base64))
        #expect(log.tree.rootHash() == want)
        #expect(try MerkleProofs.rootHash(size: Int64(size), nodes: log) == want)
        #expect(try MerkleTree(size: Int64(size), nodes: log).rootHash() == want)
        if size <= 1000 {
            #expect(try MerkleProofs.rootHash(size: Int64(size), nodes: LeavesOnly(leaves: leaves)) == want)
        }
    }

    @Test("the incremental root equals the RFC's recursive definition at every size up to 300")
    func incrementalRoot() {
        let leaves = testLeaves(300)
        var tree = MerkleTree()
        #expect(tree.rootHash() == Reference.mth([]))
        for n in 1...300 {
            tree.append(leafHash: leaves[n - 1])
            #expect(tree.rootHash() == Reference.mth(leaves[..<n]), "size \(n)")
            #expect(tree.frontier.count == n.nonzeroBitCount)
        }
    }

    @Test("a tree restored from (size, frontier) or from stored nodes grows to the same roots")
    func restore() throws {
        let leaves = testLeaves(70)
        let full = InMemoryMerkleLog(leafHashes: leaves)
        for cut in 0...70 {
            let saved = InMemoryMerkleLog(leafHashes: Array(leaves[..<cut]))
            var fromFrontier = try MerkleTree(size: saved.tree.size, frontier: saved.tree.frontier)
            var fromNodes = try MerkleTree(size: Int64(cut), nodes: full)
            #expect(fromNodes == saved.tree)
            for n in cut..<70 {
                fromFrontier.append(leafHash: leaves[n])
                fromNodes.append(leafHash: leaves[n])
            }
            #expect(fromFrontier == full.tree, "restored at \(cut)")
            #expect(fromNodes.rootHash() == full.tree.rootHash(), "rebuilt at \(cut)")
        }
    }

    @Test("a saved frontier that cannot belong to the size is refused")
    func damagedState() {
        let tree = InMemoryMerkleLog(leafHashes: testLeaves(7)).tree  // three frontier hashes
        #expect(throws: AuditLogError.self) { try MerkleTree(size: 8, frontier: tree.frontier) }
        #expect(throws: AuditLogError.self) { try MerkleTree(size: 7, frontier: Array(tree.frontier.dropLast())) }
        #expect(throws: AuditLogError.self) { try MerkleTree(size: 7, frontier: [Data(count: 31)] + tree.frontier.dropFirst()) }
        #expect(throws: AuditLogError.self) { try MerkleTree(size: -1, frontier: []) }
        #expect((try? MerkleTree(size: 7, frontier: tree.frontier)) == tree)
    }

    @Test("inclusion proofs match the published CT vectors and verify", arguments: CTVectors.inclusion.indices)
    func inclusionVector(_ i: Int) throws {
        let (index, size, hexes) = CTVectors.inclusion[i]
        let log = InMemoryMerkleLog(leafHashes: CTVectors.leaves.map(MerkleHash.leaf))
        let proof = try MerkleProofs.inclusion(index: index, size: size, nodes: log)
        #expect(proof == hexes.map(CTVectors.d))
        let leaf = MerkleHash.leaf(CTVectors.leaves[Int(index)])
        #expect(MerkleVerify.inclusion(leafHash: leaf, index: index, size: size, proof: proof, root: CTVectors.roots[Int(size)]))
    }

    @Test("consistency proofs match the published CT vectors and verify", arguments: CTVectors.consistency.indices)
    func consistencyVector(_ i: Int) throws {
        let (from, to, hexes) = CTVectors.consistency[i]
        let log = InMemoryMerkleLog(leafHashes: CTVectors.leaves.map(MerkleHash.leaf))
        let proof = try MerkleProofs.consistency(from: from, to: to, nodes: log)
        #expect(proof == hexes.map(CTVectors.d))
        #expect(MerkleVerify.consistency(oldSize: from, newSize: to, oldRoot: CTVectors.roots[Int(from)],
                                         newRoot: CTVectors.roots[Int(to)], proof: proof))
    }

    @Test("every inclusion proof up to 70 leaves is the RFC's, verifies, and fails for another leaf, index or root")
    func inclusionProperty() throws {
        let leaves = testLeaves(70)
        let log = InMemoryMerkleLog(leafHashes: leaves)
        let sparse = SparseNodes(log: log) { $0 % 3 == 0 }
        for size in Int64(1)...70 {
            let root = try MerkleProofs.rootHash(size: size, nodes: log)
            for index in 0..<size {
                let proof = try MerkleProofs.inclusion(index: index, size: size, nodes: log)
                let leaf = leaves[Int(index)]
                #expect(proof == Reference.path(Int(index), leaves[..<Int(size)]), "\(index) in \(size)")
                #expect(try MerkleProofs.inclusion(index: index, size: size, nodes: sparse) == proof)
                #expect(MerkleVerify.inclusion(leafHash: leaf, index: index, size: size, proof: proof, root: root))

                var forgeries: [(Data, Int64, [Data], Data)] = [
                    (flipped(leaf), index, proof, root),
                    (leaf, index, proof, flipped(root)),
                    (leaf, index, proof, MerkleHash.empty),
                    (leaf, index - 1, proof, root),
                    (leaf, index + 1, proof, root),
                    (leaf, index ^ 2, proof, root),
                    (leaf, index, proof + [root], root),
                    (leaf, index, [root] + proof, root),
                ]
                if !proof.isEmpty { forgeries.append((leaf, index, Array(proof.dropLast()), root)) }
                for position in proof.indices {
                    var bad = proof; bad[position] = flipped(bad[position])
                    forgeries.append((leaf, index, bad, root))
                }
                for (n, (l, i, p, r)) in forgeries.enumerated() {
                    #expect(!MerkleVerify.inclusion(leafHash: l, index: i, size: size, proof: p, root: r), "forgery \(n) of \(index) in \(size)")
                }
            }
        }
    }

    @Test("every consistency proof between sizes up to 70 is the RFC's, verifies, and fails when tampered with")
    func consistencyProperty() throws {
        let leaves = testLeaves(70)
        let log = InMemoryMerkleLog(leafHashes: leaves)
        let sparse = SparseNodes(log: log) { $0 >= 4 }
        let roots = try (0...70).map { try MerkleProofs.rootHash(size: Int64($0), nodes: log) }
        for n in 0...70 {
            for m in 0...n {
                let (from, to) = (Int64(m), Int64(n))
                let proof = try MerkleProofs.consistency(from: from, to: to, nodes: log)
                #expect(proof == (m == 0 || m == n ? [] : Reference.subproof(m, leaves[..<n], true)), "\(m) to \(n)")
                #expect(try MerkleProofs.consistency(from: from, to: to, nodes: sparse) == proof)
                #expect(MerkleVerify.consistency(oldSize: from, newSize: to, oldRoot: roots[m], newRoot: roots[n], proof: proof), "\(m) to \(n)")
                guard !proof.isEmpty else { continue }

                var forgeries: [(Int64, Int64, Data, Data, [Data])] = [
                    (from, to, flipped(roots[m]), roots[n], proof),
                    (from, to, roots[m], flipped(roots[n]), proof),
                    (from, to, roots[n], roots[m], proof),
                    (from - 1, to, roots[m], roots[n], proof),
                    (from + 1, to, roots[m], roots[n], proof),
                    (from, to, roots[m], roots[n], []),
                    (from, to, roots[m], roots[n], Array(proof.dropLast())),
                    (from, to, roots[m], roots[n], proof + [roots[m]]),
                    (from, to, roots[m], roots[n], [proof[0]] + proof),
                ]
                for position in proof.indices {
                    var bad = proof; bad[position] = flipped(bad[position], bit: 4)
                    forgeries.append((from, to, roots[m], roots[n], bad))
                }
                for (k, f) in forgeries.enumerated() {
                    #expect(!MerkleVerify.consistency(oldSize: f.0, newSize: f.1, oldRoot: f.2, newRoot: f.3, proof: f.4), "forgery \(k) of \(m) to \(n)")
                }
            }
        }
    }

    @Test("trivial consistency: a tree is consistent with itself and everything extends the empty tree")
    func trivialConsistency() {
        let root = CTVectors.roots[5]
        #expect(MerkleVerify.consistency(oldSize: 5, newSize: 5, oldRoot: root, newRoot: root, proof: []))
        #expect(!MerkleVerify.consistency(oldSize: 5, newSize: 5, oldRoot: root, newRoot: CTVectors.roots[4], proof: []))
        #expect(!MerkleVerify.consistency(oldSize: 5, newSize: 5, oldRoot: root, newRoot: root, proof: [MerkleHash.empty]))
        #expect(MerkleVerify.consistency(oldSize: 0, newSize: 5, oldRoot: MerkleHash.empty, newRoot: root, proof: []))
        #expect(!MerkleVerify.consistency(oldSize: 0, newSize: 5, oldRoot: root, newRoot: root, proof: []))
        #expect(!MerkleVerify.consistency(oldSize: 6, newSize: 5, oldRoot: root, newRoot: root, proof: []))
        #expect(!MerkleVerify.inclusion(leafHash: root, index: 0, size: 0, proof: [], root: root))
        #expect(!MerkleVerify.inclusion(leafHash: Data(), index: 0, size: 1, proof: [], root: Data()))
    }

    @Test("proofs outside the tree are refused with a proof-range error")
    func proofRange() {
        let log = InMemoryMerkleLog(leafHashes: testLeaves(8))
        #expect(throws: AuditLogError(.proofRange, "leaf 8 is not in a tree of 8 leaves; ask for an index below the tree size")) {
            try MerkleProofs.inclusion(index: 8, size: 8, nodes: log)
        }
        for attempt in [{ try MerkleProofs.inclusion(index: -1, size: 8, nodes: log) },
                        { try MerkleProofs.inclusion(index: 0, size: 0, nodes: log) },
                        { try MerkleProofs.consistency(from: 5, to: 4, nodes: log) },
                        { try MerkleProofs.consistency(from: 3, to: 9, nodes: log) },
                        { try MerkleProofs.rootHash(size: -1, nodes: log) }] as [() throws -> Any] {
            let error = #expect(throws: AuditLogError.self) { _ = try attempt() }
            #expect(error?.code == .proofRange)
        }
    }

    @Test("a stored node of the wrong length is reported as store damage")
    func damagedStore() {
        struct Broken: MerkleNodeSource {
            func leafHashes(_ range: Range<Int64>) throws -> [Data] { range.map { _ in Data(count: 32) } }
            func nodeHash(level: Int, index: Int64) throws -> Data? { Data(count: 16) }
        }
        let error = #expect(throws: AuditLogError.self) { try MerkleProofs.inclusion(index: 0, size: 8, nodes: Broken()) }
        #expect(error?.code == .storedHashes)
    }
}
