import Foundation

/// The gateway's configuration file (see ops/gateway.example.yaml). Relative paths are taken
/// from the directory of the config file.
public struct GatewayConfig: Sendable {
    public struct Listener: Sendable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) { self.host = host; self.port = port }
    }
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var key: String
        public var ca: String
        public init(certificate: String, key: String, ca: String) { self.certificate = certificate; self.key = key; self.ca = ca }
    }
    public struct Limits: Sendable {
        /// Larger bodies are refused with 413 before being read whole: a batch of a few thousand
        /// records is about 1-2 MB, so 16 MiB leaves room; with the slots below, what bodies in
        /// flight can hold is bounded (16 x 16 MiB).
        public var maxBodyBytes = 16 * 1024 * 1024
        /// Records in one submission; bounds the work of one transaction.
        public var maxRecordsPerSubmission = 50_000
        /// Matches per partner per minute: enough for a caseworker, too few to enumerate children.
        public var matchesPerMinute = 60
        /// Matches allowed at once before the per-minute rate applies.
        public var matchBurst = 20
        /// Enquiries a partner may send a minute, after a burst: enough to work through a report's
        /// list, too few to flood the agencies with notices.
        public var enquiriesPerMinute = 10
        public var enquiryBurst = 100
        /// Submissions being read or decoded at once, over all participants; more get 503 with
        /// Retry-After. Each holds up to max-body-bytes, so this bounds the memory of ingest.
        public var maxConcurrentSubmissions = 16
        /// Submissions in flight per participant: one agency cannot take every slot, and the
        /// `sightline submit` client's own parallel batches (3) always fit.
        public var maxConcurrentSubmissionsPerParticipant = 8
        /// A submission's body must have arrived within this long of the request starting.
        public var requestDeadlineSeconds = 120
        /// After a grace of 10 s, a body arriving slower than this is ended with 408: a body
        /// trickled a byte at a time must not hold a slot (and memory) for minutes.
        public var minimumUploadBytesPerSecond = 8 * 1024
        /// One NDJSON line or array element; a record is a few hundred bytes.
        public var maxRecordBytes = 16 * 1024
    }
    public struct Forwarding: Sendable {
        /// How often the delivery service looks for due forwards.
        public var pollIntervalMilliseconds = 500
        /// First retry delay; doubles per failed attempt.
        public var baseDelayMilliseconds = 1000
        /// Longest wait between attempts.
        public var maxDelaySeconds = 300
        public init() {}
    }

    /// The audit log's signed checkpoints (see AuditCheckpoint).
    public struct Audit: Sendable {
        /// Sign a checkpoint once this many entries were added since the last one...
        public var checkpointEveryEntries = 1000
        /// ...or once this many seconds passed with entries added: bounds how long a change could
        /// go unsigned, so an operator cannot quietly rewrite recent history.
        public var checkpointEverySeconds = 60
        /// The log's name in checkpoints and its key name; nil: "<trust-domain>/sightline/audit".
        public var origin: String?
        public init() {}

        /// The origin for a partnership whose trust domain is `trustDomain`.
        public func origin(trustDomain: String) -> String { origin ?? "\(trustDomain)/sightline/audit" }
    }

    public struct LocalAuthority: Sendable {
        public var code: String
        public var name: String
        public var districts: [String]
        public init(code: String, name: String, districts: [String]) { self.code = code; self.name = name; self.districts = districts }
    }

    public var listen = Listener(host: "127.0.0.1", port: 8443)
    public var ops = Listener(host: "127.0.0.1", port: 9464)
    public var tls: TLSFiles
    public var keysPath: String
    public var participantsPath: String
    public var policyDirectory: String
    public var databasePath: String
    public var limits = Limits()
    public var audit = Audit()
    public var forwarding = Forwarding()
    public var localAuthorities: [LocalAuthority] = []

    public init(tls: TLSFiles, keysPath: String, participantsPath: String, policyDirectory: String, databasePath: String) {
        self.tls = tls; self.keysPath = keysPath; self.participantsPath = participantsPath
        self.policyDirectory = policyDirectory; self.databasePath = databasePath
    }

    public static func load(path: String) throws(SightlineError) -> GatewayConfig {
        let file = try YAMLFile(path: path, code: .config)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : base + "/" + p }
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["listen", "ops", "tls", "keys", "participants", "policy", "database", "limits", "audit", "local-authorities", "forwarding"])
        func listener(_ key: String, _ fallback: Listener) throws(SightlineError) -> Listener {
            guard let n = root[key] else { return fallback }
            let d = try n.dictionary(allowedKeys: ["host", "port"])
            let port = try d["port"]?.int() ?? fallback.port
            guard (0...65535).contains(port) else { throw d["port"]!.error("port must be 0-65535") }
            return Listener(host: try d["host"]?.string() ?? fallback.host, port: port)
        }
        let tlsNode = try root.required("tls", in: rootNode)
        let tls = try tlsNode.dictionary(allowedKeys: ["certificate", "key", "ca"])
        var config = GatewayConfig(
            tls: TLSFiles(certificate: resolve(try tls.required("certificate", in: tlsNode).string()),
                          key: resolve(try tls.required("key", in: tlsNode).string()),
                          ca: resolve(try tls.required("ca", in: tlsNode).string())),
            keysPath: resolve(try root.required("keys", in: rootNode).string()),
            participantsPath: resolve(try root.required("participants", in: rootNode).string()),
            policyDirectory: resolve(try root.required("policy", in: rootNode).string()),
            databasePath: resolve(try root.required("database", in: rootNode).string()))
        config.listen = try listener("listen", config.listen)
        config.ops = try listener("ops", config.ops)
        if let n = root["limits"] {
            let d = try n.dictionary(allowedKeys: ["max-body-bytes", "max-records-per-submission", "matches-per-minute", "match-burst",
                                                   "enquiries-per-minute", "enquiry-burst", "max-concurrent-submissions", "max-concurrent-submissions-per-participant",
                                                   "request-deadline-seconds", "minimum-upload-bytes-per-second", "max-record-bytes"])
            func positive(_ key: String) throws(SightlineError) -> Int? {
                guard let node = d[key] else { return nil }
                let v = try node.int()
                guard v > 0 else { throw node.error("\(key) must be a positive whole number") }
                return v
            }
            if let v = try positive("max-concurrent-submissions") { config.limits.maxConcurrentSubmissions = v }
            if let v = try positive("max-concurrent-submissions-per-participant") { config.limits.maxConcurrentSubmissionsPerParticipant = v }
            if let v = try positive("request-deadline-seconds") { config.limits.requestDeadlineSeconds = v }
            if let v = try positive("minimum-upload-bytes-per-second") { config.limits.minimumUploadBytesPerSecond = v }
            if let v = try positive("max-record-bytes") { config.limits.maxRecordBytes = v }
            if let v = try positive("enquiries-per-minute") { config.limits.enquiriesPerMinute = v }
            if let v = try positive("enquiry-burst") { config.limits.enquiryBurst = v }
            if let v = d["matches-per-minute"] { config.limits.matchesPerMinute = try v.int() }
            if let v = d["match-burst"] { config.limits.matchBurst = try v.int() }
            if let v = d["max-body-bytes"] { config.limits.maxBodyBytes = try v.int() }
            if let v = d["max-records-per-submission"] { config.limits.maxRecordsPerSubmission = try v.int() }
        }
        if let n = root["forwarding"] {
            let d = try n.dictionary(allowedKeys: ["poll-interval-ms", "base-delay-ms", "max-delay-s"])
            if let v = d["poll-interval-ms"] { config.forwarding.pollIntervalMilliseconds = try v.int() }
            if let v = d["base-delay-ms"] { config.forwarding.baseDelayMilliseconds = try v.int() }
            if let v = d["max-delay-s"] { config.forwarding.maxDelaySeconds = try v.int() }
        }
        if let n = root["audit"] {
            let d = try n.dictionary(allowedKeys: ["checkpoint-every-entries", "checkpoint-every-seconds", "origin"])
            if let v = d["checkpoint-every-entries"] {
                config.audit.checkpointEveryEntries = try v.int()
                guard config.audit.checkpointEveryEntries >= 1 else { throw v.error("checkpoint-every-entries must be at least 1") }
            }
            if let v = d["checkpoint-every-seconds"] {
                config.audit.checkpointEverySeconds = try v.int()
                guard config.audit.checkpointEverySeconds >= 1 else { throw v.error("checkpoint-every-seconds must be at least 1") }
            }
            if let v = d["origin"] {
                let origin = try v.string()
                guard NoteVerifierKey.isValidName(origin) else {
                    throw v.error("origin must be one word without spaces or '+', such as brent.sightline/sightline/audit")
                }
                config.audit.origin = origin
            }
        }
        if let n = root["local-authorities"] {
            for (code, node) in try n.mapping() {
                let d = try node.dictionary(allowedKeys: ["name", "districts"])
                config.localAuthorities.append(LocalAuthority(code: code, name: try d.required("name", in: node).string(),
                                                              districts: try d.required("districts", in: node).strings()))
            }
        }
        return config
    }

    public func render() -> String {
        var out = """
        # Sightline gateway configuration. Relative paths are relative to this file.
        listen: {host: \(listen.host), port: \(listen.port)}   # mTLS API
        ops: {host: \(ops.host), port: \(ops.port)}            # plain HTTP: /healthz /readyz /metrics; keep on loopback
        tls:
          certificate: \(tls.certificate)
          key: \(tls.key)
          ca: \(tls.ca)              # the only trust root: the partnership CA, never the system store
        keys: \(keysPath)            # mode 0600, from `sightline keys init`
        participants: \(participantsPath)
        policy: \(policyDirectory)
        database: \(databasePath)
        limits:
          max-body-bytes: \(limits.maxBodyBytes)
          max-records-per-submission: \(limits.maxRecordsPerSubmission)
          matches-per-minute: \(limits.matchesPerMinute)
          match-burst: \(limits.matchBurst)
          max-concurrent-submissions: \(limits.maxConcurrentSubmissions)
          max-concurrent-submissions-per-participant: \(limits.maxConcurrentSubmissionsPerParticipant)
          request-deadline-seconds: \(limits.requestDeadlineSeconds)
          minimum-upload-bytes-per-second: \(limits.minimumUploadBytesPerSecond)
        audit:                       # signed checkpoints of the audit log
          checkpoint-every-entries: \(audit.checkpointEveryEntries)
          checkpoint-every-seconds: \(audit.checkpointEverySeconds)
        \(audit.origin.map { "  origin: \($0)" } ?? "  # origin: <trust-domain>/sightline/audit (the default; also the signing key's name)")
        forwarding:
          poll-interval-ms: \(forwarding.pollIntervalMilliseconds)
          base-delay-ms: \(forwarding.baseDelayMilliseconds)    # first retry; doubles per failure, with jitter
          max-delay-s: \(forwarding.maxDelaySeconds)
        local-authorities:

        """
        for la in localAuthorities {
            out += "  \"\(la.code)\": {name: \(la.name), districts: [\(la.districts.joined(separator: ", "))]}\n"
        }
        return out
    }
}
