import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// The audit log for auditors: signed checkpoints, entries, inclusion and consistency proofs.
/// Only the auditor role reads the log, and every read is itself an entry, written before the
/// answer leaves (if it cannot be written, nothing is answered).
///
/// Submitters get one narrower view: `GET /v1/submissions/{id}/proof` proves that their own
/// submission's entry is in the signed log. It carries the entry's leaf hash, not the entry: the
/// entry records how the records linked to other agencies' data, which the submitter may not see.
struct AuditRoutes {
    let state: GatewayState
    static let readers: Set<Role> = [.auditor]
    /// Entries per page: a page of about 5 MB, and a full export at about 20 requests per 100k entries.
    static let maxPage = 10_000

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("audit/checkpoint", method: .get, roles: Self.readers, state: state) { request, context in try await checkpoint(request, context) }
        group.on("audit/entries", method: .get, roles: Self.readers, state: state) { request, context in try await entries(request, context) }
        group.on("audit/proofs/inclusion", method: .get, roles: Self.readers, state: state) { request, context in try await inclusion(request, context) }
        group.on("audit/proofs/consistency", method: .get, roles: Self.readers, state: state) { request, context in try await consistency(request, context) }
        group.on("submissions/{id}/proof", method: .get, roles: Role.submitters, state: state) { request, context in try await submissionProof(request, context) }
    }

    // MARK: - Handlers

    func checkpoint(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let format = request.uri.queryParameters["format"].map(String.init) ?? "note"
        guard format == "note" || format == "json" else { throw APIError.badRequest("format must be note (the default: the signed note as text) or json") }
        try await recordRead(request, context, action: "audit.checkpoint", rule: "endpoint-roles:GET /audit/checkpoint")
        let current = try await signedCheckpoint()
        if format == "json" { return try json(current) }
        return Response(status: .ok,
                        headers: [.contentType: "text/plain; charset=utf-8", Self.verifierKeyHeader: current.verifierKey],
                        body: .init(byteBuffer: ByteBuffer(string: current.note)))
    }

    /// The verifier key beside the plain-text note, so `curl` users can see what to pin.
    static let verifierKeyHeader = HTTPField.Name("Sightline-Verifier-Key")!

    /// Filters run on the search columns stored beside each entry, not on the hashed entries, so
    /// a row whose columns were edited behind the log's back (triggers dropped) could be found by
    /// a search it does not match. Every row a filtered answer returns is therefore held to its
    /// canonical entry first; one that disagrees fails the whole answer (500
    /// `audit-columns-disagree`, naming the entry and the column) rather than being included or
    /// skipped in silence. What this cannot see is a row edited *away* from the filter: it is
    /// simply not selected. Only `sightline audit verify --database` on a copy of the file, which
    /// checks every row's columns, finds those. Unfiltered pages (what `audit verify` and
    /// `audit export` read) select by index only and are answered as stored.
    ///
    /// An entry whose content the log's retention pruned is answered with its index and leaf
    /// hash, an empty `canonical`, no decoded `entry` and `"pruned": true`. A filter on time can
    /// select one (its time is kept); it is held to what pruning leaves instead (see `checkColumns`).
    func entries(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let q = request.uri.queryParameters
        var filter = AuditEntryFilter(from: try integer(q, "from", default: 0, min: 0),
                                      limit: Int(try integer(q, "limit", default: 100, min: 1, max: Int64(Self.maxPage))))
        filter.since = try time(q, "since")
        filter.until = try time(q, "until")
        filter.actor = q["actor"].map(String.init)
        filter.action = q["action"].map(String.init)
        filter.purpose = q["purpose"].map(String.init)
        filter.rule = q["rule"].map(String.init)
        if let decision = q["decision"].map(String.init) {
            guard PolicyDecision.Effect(rawValue: decision) != nil else { throw APIError.badRequest("decision must be allow or deny") }
            filter.decision = decision
        }
        let found = try await state.store.auditEntries(matching: filter)
        let size = try await state.store.auditTreeHead().size
        let filters = ["since", "until", "actor", "action", "purpose", "decision", "rule"].filter { q[Substring($0)] != nil }
        if !filters.isEmpty { try await checkColumns(found, request, context) }
        // Filter names only: the values are hashed into the request digest, never stored as typed.
        try await recordRead(request, context, action: "audit.entries", rule: "endpoint-roles:GET /audit/entries",
                             counts: ["returned": found.count],
                             detail: ["from": "\(filter.from)", "limit": "\(filter.limit)", "filters": filters.joined(separator: ",")])
        let items = found.map { e in AuditWire.Entry(index: e.index, leafHash: e.leafHash, bytes: e.entry, decode: true) }
        let next = found.count == filter.limit ? found.last.map { $0.index + 1 } : nil
        return try json(AuditWire.EntriesPage(entries: items, next: next, treeSize: size))
    }

    func inclusion(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let q = request.uri.queryParameters
        guard q["index"] != nil else { throw APIError.badRequest("give index=I, the entry to prove (and size=N, the tree size; default: the current size)") }
        let index = try integer(q, "index", default: 0, min: 0)
        try await recordRead(request, context, action: "audit.proof.inclusion", rule: "endpoint-roles:GET /audit/proofs/inclusion",
                             detail: ["index": "\(index)"])
        let size = q["size"] == nil ? try await state.store.auditTreeHead().size : try integer(q, "size", default: 0, min: 1)
        return try json(Self.wire(try await proof { try await state.store.auditInclusionProof(index: index, size: size) }))
    }

    func consistency(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let q = request.uri.queryParameters
        guard q["from"] != nil else { throw APIError.badRequest("give from=M, the size of the older tree (and to=N; default: the current size)") }
        let from = try integer(q, "from", default: 0, min: 0)
        try await recordRead(request, context, action: "audit.proof.consistency", rule: "endpoint-roles:GET /audit/proofs/consistency",
                             detail: ["from": "\(from)"])
        let to = q["to"] == nil ? try await state.store.auditTreeHead().size : try integer(q, "to", default: 0, min: 0)
        let p = try await proof { try await state.store.auditConsistencyProof(from: from, to: to) }
        return try json(AuditWire.ConsistencyProof(from: p.from, to: p.to, fromRoot: p.fromRoot.hexString, toRoot: p.toRoot.hexString,
                                                   proof: p.path.map(\.hexString)))
    }

    func submissionProof(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let participant = context.participant.identity.shortName
        guard let sealed = try await state.store.receipt(submissionID: id, participant: participant) else {
            throw APIError.notFound("no submission \(id) from \(participant)")
        }
        let receipt = try SubmissionReceipt.decoder.decode(SubmissionReceipt.self, from: state.sealer.open(sealed))
        try await recordRead(request, context, action: "submission.proof", rule: "endpoint-roles:GET /submissions/{id}/proof",
                             detail: ["submission": id, "index": "\(receipt.auditIndex)"])
        let current = try await signedCheckpoint()
        let p = try await proof { try await state.store.auditInclusionProof(index: receipt.auditIndex, size: current.size) }
        return try json(AuditWire.SubmissionProof(submissionId: id, auditIndex: receipt.auditIndex, inclusion: Self.wire(p), checkpoint: current))
    }

    // MARK: - Helpers

    /// Refuses a filtered answer that contains a row whose search columns are not what its hashed
    /// entry says (see `entries`). Names the entry and the column, never their values. A row with
    /// no content must lie below the store's pruning boundary and have its columns cleared, as
    /// the prune leaves them.
    func checkColumns(_ found: [StoredAuditEntry], _ request: Request, _ context: ParticipantContext) async throws {
        var prunedBelow: Int64?
        for e in found {
            guard let columns = e.columns else {
                throw APIError(.internalServerError, "audit-columns-unavailable", "the store returned entry \(e.index) without its search columns, so the filtered answer cannot be checked; read unfiltered pages and filter them yourself")
            }
            let d: AuditSearchColumns.Disagreement?
            if e.entry.isEmpty {
                let below: Int64
                if let prunedBelow { below = prunedBelow } else { below = try await state.store.auditPrunedBelow(); prunedBelow = below }
                if e.index >= below {
                    d = .init(column: "entry", stored: "no content", canonical: "an entry the log has not pruned")
                } else if let column = columns.valueLeftAfterPruning() {
                    d = .init(column: column, stored: "a value", canonical: "nothing (pruned)")
                } else {
                    continue
                }
            } else {
                d = columns.disagreement(withCanonical: e.entry)
            }
            guard let d else { continue }
            state.logger.error("audit search columns disagree with the hashed entry", metadata: ["audit.index": "\(e.index)", "audit.column": "\(d.column)"])
            await state.auditRefusal(actor: context.participant.identity.shortName, action: "audit.entries", rule: "audit-columns-match",
                                     reason: "entry \(e.index): the \(d.column) column disagrees with the hashed entry",
                                     requestDigest: state.digester.digest("request-line", text: "GET \(request.uri.path)?\(request.uri.query ?? "")"))
            throw APIError(.internalServerError, "audit-columns-disagree",
                           "entry \(e.index) matched this filter on its stored \(d.column) column, but its hashed entry says otherwise: the store was changed behind the log's back, so filtered answers cannot be trusted; run `sightline audit verify --database` on a copy of the gateway's database, which names every such entry; unfiltered reads (audit verify, audit export) still answer")
        }
    }

    /// The latest checkpoint, signed now if entries were added since.
    func signedCheckpoint() async throws -> AuditWire.Checkpoint {
        let c = try await state.checkpoints.current()
        return AuditWire.Checkpoint(note: c.note, verifierKey: c.verifierKey, origin: state.checkpoints.origin, size: c.size,
                                    rootHash: c.rootHash.hexString, time: c.time)
    }

    static func wire(_ p: AuditInclusionProof) -> AuditWire.InclusionProof {
        AuditWire.InclusionProof(index: p.index, size: p.size, leafHash: p.leafHash.hexString, rootHash: p.rootHash.hexString,
                                 proof: p.path.map(\.hexString))
    }

    /// Runs a proof, turning "the tree has no such size or index" into a 400 that says the range.
    func proof<T>(_ make: () async throws -> T) async throws -> T {
        do { return try await make() } catch let error as AuditLogError where error.code == .proofRange {
            throw APIError(.badRequest, "out-of-range", error.message)
        }
    }

    func recordRead(_ request: Request, _ context: ParticipantContext, action: String, rule: String,
                    counts: [String: Int] = [:], detail: [String: String] = [:]) async throws {
        let target = request.uri.query.map { "\(request.uri.path)?\($0)" } ?? request.uri.path
        try await state.store.appendAudit(AuditEntry(
            time: state.now(), actor: context.participant.identity.shortName, action: action, policyVersion: state.policy.version,
            decision: .allow, rule: rule, counts: counts, requestDigest: state.digester.digest("request-line", text: "GET \(target)"), detail: detail))
    }

    func integer(_ q: Parameters, _ name: String, default value: Int64, min: Int64, max: Int64 = .max) throws -> Int64 {
        guard let text = q[Substring(name)] else { return value }
        guard let n = Int64(text), n >= min, n <= max else {
            throw APIError.badRequest("\(name) must be a whole number \(max == .max ? "of at least \(min)" : "from \(min) to \(max)"); got '\(text.prefix(20))'")
        }
        return n
    }

    func time(_ q: Parameters, _ name: String) throws -> Date? {
        guard let text = q[Substring(name)] else { return nil }
        guard let date = AuditWire.parseTime(String(text)) else {
            throw APIError.badRequest("\(name) must be a date (2026-11-29) or an instant (2026-11-29T12:00:00Z)")
        }
        return date
    }

    func json<T: Encodable>(_ value: T) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(data: try AuditWire.encoder.encode(value))))
    }
}
