import Crypto
import Foundation
import SightlineCore

/// Reads agency files (CSV through a column mapping, NDJSON, FHIR Patients; a CTF through
/// `CTFImport`), sends them in batches, and maps every rejection back to the file and line it
/// came from.
public struct Submitter: Sendable {
    public let client: GatewayClient
    public var batchSize = 2000
    /// Batches in flight at once: keeps the gateway's writer busy while the next batch travels.
    public var concurrency = 3
    /// Batches a streamed file is read ahead of the sender; with `concurrency` and `batchSize`,
    /// what bounds the memory a large file takes.
    public var readAhead = 2

    public init(client: GatewayClient) { self.client = client }

    /// A record ready to send, with the file line it came from.
    public struct PreparedRecord: Sendable {
        public let line: Int
        public let json: Data
        /// Where in the file besides the line, e.g. "pupil 17" in a CTF: put before the reason of
        /// a rejection so that the row can be found.
        public let position: String?
        public init(line: Int, json: Data, position: String? = nil) { self.line = line; self.json = json; self.position = position }
    }

    public struct FileResult: Sendable, Codable {
        public var file: String
        public var records = 0
        public var accepted = 0
        public var created = 0
        public var updated = 0
        public var rejected: [RecordRejection] = []
        public var submissions: [String] = []
        public var auditIndexes: [Int64] = []
        public var replayedBatches = 0
        public var failures: [String] = []
        public init(file: String) { self.file = file }
    }

    /// Reads a file into records, converting CSV rows through `mapping` and FHIR Patients through
    /// `FHIRPatient`; rows that cannot be converted are rejected here with their line.
    public static func prepare(file: String, format: String, kind: RecordKind, mapping: ColumnMapping?, observedAt: String)
        throws(ClientError) -> (records: [PreparedRecord], rejected: [RecordRejection], content: Data) {
        guard let data = FileManager.default.contents(atPath: file) else { throw ClientError("\(file): cannot read file") }
        var records: [PreparedRecord] = []
        var rejected: [RecordRejection] = []
        switch format {
        case "csv":
            guard let mapping else { throw ClientError("\(file): CSV needs --mapping FILE (see ops/mappings/)") }
            guard mapping.kind == kind else {
                throw ClientError("the mapping is for \(mapping.kind.rawValue) but --kind is \(kind.rawValue)")
            }
            let table = try CSVTable(text: String(decoding: data, as: UTF8.self))
            try mapping.check(header: table.header)
            for row in table.rows {
                switch mapping.record(cells: row.cells, header: table.header, line: row.line, observedAt: observedAt) {
                case .success(let value): records.append(PreparedRecord(line: row.line, value: value))
                case .failure(let r): rejected.append(r)
                }
            }
        case "fhir":
            guard kind == .gpRegistration else { throw ClientError("FHIR Patient resources become \(RecordKind.gpRegistration.rawValue) records, not \(kind.rawValue)") }
            let patients = FHIRPatient(observedAt: observedAt)
            forEachLine(of: data) { line, bytes in
                switch patients.record(bytes, line: line) {
                case .success(let value): records.append(PreparedRecord(line: line, value: value))
                case .failure(let r): rejected.append(r)
                }
            }
        default:
            forEachLine(of: data) { line, bytes in
                // Kind is checked here too so a file sent with the wrong --kind fails fast and clearly.
                if let v = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)), case .object(let o) = v,
                   let k = o["kind"]?.stringValue, k != kind.rawValue {
                    rejected.append(RecordRejection(line: line, field: "kind", reason: "record kind \(k) in a file submitted as --kind \(kind.rawValue)",
                                                    localRef: o["localRef"]?.stringValue))
                    return
                }
                records.append(PreparedRecord(line: line, json: Data(bytes)))
            }
        }
        return (records, rejected, data)
    }

    /// Each line of an NDJSON file that is not blank, with its 1-based number.
    static func forEachLine(of data: Data, _ body: (Int, Data.SubSequence) -> Void) {
        var line = 0
        for bytes in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            line += 1
            if bytes.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) { continue }
            body(line, bytes)
        }
    }

    /// The digest that names a file's batches (their idempotency keys): the same file sent again,
    /// as the same kind and in the same batch size, is the same batches.
    public static func contentDigest(scope: String, content: Data) -> String {
        Data(SHA256.hash(data: Data(scope.utf8) + content)).prefix(16).hexString
    }

    /// Sends prepared records in batches. The idempotency key of a batch is derived from the
    /// file's content, kind and batch number: re-running the same command stores nothing twice.
    public func send(file: String, kind: RecordKind, prepared: (records: [PreparedRecord], rejected: [RecordRejection], content: Data),
                     progress: (@Sendable (Int) -> Void)? = nil) async -> FileResult {
        let records = prepared.records
        var result = await send(file: file, contentDigest: Self.contentDigest(scope: kind.rawValue, content: prepared.content), progress: progress) { emit, _ in
            for record in records where !emit(record) { break }
        }
        result.records += prepared.rejected.count
        result.rejected = (result.rejected + prepared.rejected).sorted { $0.line < $1.line }
        return result
    }

    /// Reads records as they are sent: `produce` runs on a thread of its own, handing each record
    /// to `emit` (which answers false once nothing more is wanted) and each record it could not
    /// make to `reject`. It is held at most `readAhead` batches ahead of the sender, so a file of
    /// any size is sent in bounded memory.
    public func send(file: String, contentDigest: String, progress: (@Sendable (Int) -> Void)? = nil,
                     produce: @escaping RecordProducer) async -> FileResult {
        var result = FileResult(file: file)
        let feed = BatchFeed(readAhead: readAhead)
        let batches = feed.start(batchSize: batchSize, produce)
        await withTaskGroup(of: (Int, [(line: Int, position: String?)], Result<BatchReceipt, ClientError>).self) { group in
            var iterator = batches.makeAsyncIterator()
            var next = 0
            var more = true
            func launch(_ batch: [PreparedRecord]) {
                let index = next, places = batch.map { (line: $0.line, position: $0.position) }
                next += 1
                result.records += batch.count
                group.addTask {
                    (index, places, await sendBatch(batch, key: "file-\(contentDigest)-\(batchSize)-\(index)"))
                }
            }
            for _ in 0..<concurrency {
                guard let batch = await iterator.next() else { more = false; break }
                feed.taken()
                launch(batch)
            }
            while let (index, places, outcome) = await group.next() {
                switch outcome {
                case .success(let receipt):
                    result.accepted += receipt.accepted
                    result.created += receipt.created
                    result.updated += receipt.updated
                    result.submissions.append(receipt.submissionId)
                    result.auditIndexes.append(receipt.auditIndex)
                    if receipt.replayed { result.replayedBatches += 1 }
                    for var r in receipt.rejected {
                        // The gateway numbers lines within the batch; report the file's line.
                        let i = r.line - 1
                        if i >= 0 && i < places.count {
                            r.line = places[i].line
                            if let position = places[i].position { r.reason = "\(position): \(r.reason)" }
                        }
                        result.rejected.append(r)
                    }
                case .failure(let error):
                    result.failures.append("batch \(index + 1) (lines \(places.first?.line ?? 0)-\(places.last?.line ?? 0)): \(error.message)")
                }
                progress?(places.count)
                if more {
                    if let batch = await iterator.next() { feed.taken(); launch(batch) } else { more = false }
                }
            }
        }
        let read = feed.outcome()
        result.records += read.rejected.count
        result.rejected += read.rejected
        if let failure = read.failure { result.failures.append(failure.message) }
        result.rejected.sort { $0.line < $1.line }
        return result
    }

    /// Reads a file record by record; see `send(file:contentDigest:progress:produce:)`.
    public typealias RecordProducer = @Sendable (_ emit: (PreparedRecord) -> Bool, _ reject: (RecordRejection) -> Void) throws(ClientError) -> Void

    struct BatchReceipt: Decodable {
        var submissionId: String
        var accepted: Int
        var created: Int
        var updated: Int
        var rejected: [RecordRejection]
        var auditIndex: Int64
        var replayed: Bool
    }

    struct APIErrorBody: Decodable { var error: String; var message: String }

    func sendBatch(_ batch: [PreparedRecord], key: String) async -> Result<BatchReceipt, ClientError> {
        var body = Data()
        body.reserveCapacity(batch.reduce(0) { $0 + $1.json.count + 1 })
        for r in batch { body.append(r.json); body.append(UInt8(ascii: "\n")) }
        // Transient failures (connection lost, 429, 503) are retried with the same key: the
        // gateway answers a repeat with the original receipt and stores nothing twice.
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await client.request(.POST, "/v1/submissions", body: body, headers: [("Idempotency-Key", key)])
                if response.status == 200 || response.status == 201 {
                    return .success(try JSONDecoder().decode(BatchReceipt.self, from: response.body))
                }
                let message = (try? JSONDecoder().decode(APIErrorBody.self, from: response.body)).map { "\($0.error): \($0.message)" }
                    ?? "HTTP \(response.status)"
                if [429, 503].contains(response.status) && attempt < 5 {
                    try? await Task.sleep(for: .milliseconds(200 * (1 << attempt)))
                    continue
                }
                return .failure(ClientError("the gateway answered \(response.status): \(message)"))
            } catch let error as DecodingError {
                return .failure(ClientError("the gateway's receipt could not be read (\(error))"))
            } catch {
                if attempt < 5 {
                    try? await Task.sleep(for: .milliseconds(200 * (1 << attempt)))
                    continue
                }
                return .failure(ClientError("could not reach the gateway at \(client.baseURL): \(error)"))
            }
        }
    }
}
