import Foundation
import NIOHTTP1
import SightlineClient
import SightlineCore
import SightlineStore

/// Where `sightline audit` reads the log: the gateway's API, a database file, or an export.
protocol AuditLogSource: Sendable {
    /// The current signed checkpoint (over the API, signed now if entries were added since).
    func checkpoint() async throws -> AuditWire.Checkpoint?
    /// Earlier checkpoints the log kept (none over the API).
    func storedCheckpoints() async throws -> [StoredCheckpoint]
    /// One page of entries from `from` on, filtered when `filters` is given.
    func entries(filters: AuditFilterOptions?, from: Int64, limit: Int) async throws -> AuditWire.EntriesPage
    func close() async
}

struct DatabaseAuditSource: AuditLogSource {
    let store: SQLiteStore

    func checkpoint() async throws -> AuditWire.Checkpoint? {
        guard let c = try await store.latestCheckpoint() else { return nil }
        return Self.wire(c)
    }

    static func wire(_ c: StoredCheckpoint) -> AuditWire.Checkpoint {
        AuditWire.Checkpoint(note: c.note, verifierKey: c.verifierKey, origin: String(c.note.prefix { $0 != "\n" }), size: c.size,
                             rootHash: c.rootHash.hexString, time: c.time)
    }

    func storedCheckpoints() async throws -> [StoredCheckpoint] { try await store.checkpoints(upTo: .max) }

    func entries(filters: AuditFilterOptions?, from: Int64, limit: Int) async throws -> AuditWire.EntriesPage {
        let filter = filters?.filter(from: from, limit: limit) ?? AuditEntryFilter(from: from, limit: limit)
        let found = try await store.auditEntries(matching: filter)
        return AuditWire.EntriesPage(
            entries: found.map { AuditWire.Entry(index: $0.index, leafHash: $0.leafHash, bytes: $0.entry, decode: true) },
            next: found.count == limit ? found.last.map { $0.index + 1 } : nil,
            treeSize: try await store.auditTreeHead().size)
    }

    func close() async {}
}

struct APIAuditSource: AuditLogSource {
    let client: GatewayClient

    func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        let response: GatewayClient.Response
        do { response = try await client.request(.GET, path) } catch {
            throw CLIProblem("cannot reach the gateway at \(client.baseURL): \(error)")
        }
        guard response.status == 200 else {
            let body = try? JSONDecoder().decode([String: String].self, from: response.body)
            throw CLIProblem("\(path): HTTP \(response.status): \(body?["message"] ?? String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        do { return try AuditWire.decoder.decode(T.self, from: response.body) } catch {
            throw CLIProblem("\(path): the gateway's answer is not what this tool expects (\(error))")
        }
    }

    func checkpoint() async throws -> AuditWire.Checkpoint? {
        try await get("/v1/audit/checkpoint?format=json", as: AuditWire.Checkpoint.self)
    }

    func storedCheckpoints() async throws -> [StoredCheckpoint] { [] }

    func entries(filters: AuditFilterOptions?, from: Int64, limit: Int) async throws -> AuditWire.EntriesPage {
        try await get("/v1/audit/entries?from=\(from)&limit=\(limit)\(filters?.query ?? "")", as: AuditWire.EntriesPage.self)
    }

    func consistency(from: Int64, to: Int64) async throws -> AuditWire.ConsistencyProof {
        try await get("/v1/audit/proofs/consistency?from=\(from)&to=\(to)", as: AuditWire.ConsistencyProof.self)
    }

    func close() async { try? await client.shutdown() }
}

struct ExportAuditSource: AuditLogSource {
    let export: AuditExport

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIProblem("cannot read \(path)") }
        do { export = try AuditExport.parse(data, name: path) } catch { throw CLIProblem(error.message) }
    }

    func checkpoint() async throws -> AuditWire.Checkpoint? { export.header.checkpoint }

    func storedCheckpoints() async throws -> [StoredCheckpoint] { [] }

    func entries(filters: AuditFilterOptions?, from: Int64, limit: Int) async throws -> AuditWire.EntriesPage {
        let page = export.entries.filter { $0.index >= from }.prefix(limit)
        return AuditWire.EntriesPage(
            entries: page.map { AuditWire.Entry(index: $0.index, leafHash: $0.leafHash, bytes: $0.bytes, decode: true) },
            next: page.count == limit ? page.last.map { $0.index + 1 } : nil, treeSize: Int64(export.entries.count))
    }

    func close() async {}
}

/// `audit verify` over any source: the database check lives in the store (the tests run the
/// same code); the API and export checks feed the same `AuditVerification`.
struct AuditLogCheck {
    let source: any AuditLogSource
    let pinned: [NoteVerifierKey]
    let savedPath: String?

    func run() async -> AuditVerificationReport {
        let saved: AuditVerification.Saved?
        do { saved = try loadSaved() } catch {
            return .failed(source: "saved checkpoint", .init(.checkpointSignature, index: nil, (error as? CLIProblem)?.message ?? "\(error)"))
        }
        switch source {
        case let db as DatabaseAuditSource:
            return db.store.verifyAuditLog(pinned: pinned, saved: saved)
        case let file as ExportAuditSource:
            return verify(export: file.export, saved: saved)
        case let api as APIAuditSource:
            return await verify(api: api, saved: saved)
        default:
            return .failed(source: "unknown", .init(.noCheckpoint, index: nil, "unknown source"))
        }
    }

    func loadSaved() throws -> AuditVerification.Saved? {
        guard let savedPath else { return nil }
        guard let data = FileManager.default.contents(atPath: savedPath) else { throw CLIProblem("cannot read the saved checkpoint \(savedPath)") }
        let label = "your saved checkpoint (\((savedPath as NSString).lastPathComponent))"
        if AuditExport.looksLikeExport(data) {
            do { return .export(try AuditExport.parse(data, name: savedPath), label: "the earlier export \((savedPath as NSString).lastPathComponent)") } catch {
                throw CLIProblem(error.message)
            }
        }
        return .checkpoint(note: String(decoding: data, as: UTF8.self), label: label)
    }

    func verify(export: AuditExport, saved: AuditVerification.Saved?) -> AuditVerificationReport {
        let source = "export"
        let header = export.header.checkpoint
        do {
            var check = try AuditVerification(source: source, latest: .init(note: header.note, verifierKey: header.verifierKey),
                                              stored: export.storedCheckpoints.map { .init(note: $0, verifierKey: nil) }, saved: saved, pinned: pinned)
            for e in export.entries { try check.add(index: e.index, entry: e.bytes, storedLeaf: e.leafHash) }
            return check.finish()
        } catch {
            return .failed(source: source, error, keys: pinned, pinned: !pinned.isEmpty)
        }
    }

    /// Online verification reads unfiltered pages: the canonical bytes of every entry, which it
    /// hashes and holds to the signed checkpoints, exactly as offline. What it cannot see are the
    /// search columns the gateway's store keeps beside each entry (actor, action, decision, rule,
    /// purpose, time), which `audit entries` filters on and which no hash covers: a row whose
    /// actor was changed in the file still verifies here. The gateway refuses a filtered answer
    /// that would include a row whose columns disagree with its entry, but a row changed away
    /// from a filter is simply not selected; only `audit verify --database` on a copy of the
    /// file, which checks every row's columns, finds it.
    func verify(api: APIAuditSource, saved: AuditVerification.Saved?) async -> AuditVerificationReport {
        let source = "gateway \(api.client.baseURL)"
        do {
            guard let latest = try await api.checkpoint() else { throw CLIProblem("the gateway returned no checkpoint") }
            var check = try AuditVerification(source: source, latest: .init(note: latest.note, verifierKey: latest.verifierKey), saved: saved, pinned: pinned)
            var next: Int64 = 0
            while next < latest.size {
                let page = try await api.entries(filters: nil, from: next, limit: Int(min(10_000, latest.size - next)))
                guard !page.entries.isEmpty else { break }  // the verifier reports what is missing
                for e in page.entries where e.index < latest.size {
                    guard let bytes = e.bytes else { throw CLIProblem("entry \(e.index): the gateway sent bytes that are not base64") }
                    try check.add(index: e.index, entry: bytes, storedLeaf: Data(hex: e.leafHash))
                }
                next = page.entries.last!.index + 1
            }
            let report = check.finish()
            // The gateway's own consistency proof must agree with what the entries showed.
            if report.ok, let s = report.savedCheckpoint, s.size <= latest.size, let old = Data(hex: s.rootHash), let new = Data(hex: latest.rootHash) {
                let p = try await api.consistency(from: s.size, to: latest.size)
                let proof = p.proof.compactMap { Data(hex: $0) }
                guard proof.count == p.proof.count,
                      MerkleVerify.consistency(oldSize: s.size, newSize: latest.size, oldRoot: old, newRoot: new, proof: proof) else {
                    return check.report(failure: .init(.checkpointRoot, index: nil, "the entries extend the saved checkpoint, but the gateway's consistency proof from \(s.size) to \(latest.size) does not verify: its proof service is faulty"))
                }
            }
            return report
        } catch let failure as AuditLogVerifier.Failure {
            return .failed(source: source, failure, keys: pinned, pinned: !pinned.isEmpty)
        } catch let problem as CLIProblem {
            return .failed(source: source, .init(.noCheckpoint, index: nil, problem.message), keys: pinned, pinned: !pinned.isEmpty)
        } catch {
            return .failed(source: source, .init(.noCheckpoint, index: nil, "\(error)"), keys: pinned, pinned: !pinned.isEmpty)
        }
    }
}

extension AuditVerificationReport {
    func print(json: Bool) {
        if json { printJSON(self); return }
        if ok { Swift.print(text) } else { FileHandle.standardError.write(Data("sightline: \(text)\n".utf8)) }
    }
}
