import Crypto
import Foundation

/// Reads and checks `Policies/`: policy.yaml (submission rules), legal-gateways.yaml and
/// purposes/*.yaml. Any problem stops the load with `file:line: path: problem`.
public enum PolicyLoader {
    /// Special-category and criminal-offence data need their own conditions (UK GDPR Art 9, 10).
    /// A purpose that uses these fields must cite one of the listed gateways.
    static let conditionsForSensitiveFields: [(kind: RecordKind, fields: Set<String>?, gateways: Set<String>, what: String)] = [
        (.schoolEnrolment, ["senStatus"], ["uk-gdpr-9-2-g"], "special-category (health/SEN) data"),
        (.policeNotification, nil, ["uk-gdpr-10"], "criminal-offence data"),
    ]

    public static func load(directory: String) throws(SightlineError) -> Policy {
        let fm = FileManager.default
        let policyPath = directory + "/policy.yaml"
        let gatewaysPath = directory + "/legal-gateways.yaml"
        let purposesDir = directory + "/purposes"
        guard fm.fileExists(atPath: policyPath) else {
            throw SightlineError(.policy, "\(policyPath): not found; the policy directory needs policy.yaml, legal-gateways.yaml and purposes/")
        }
        var digest = SHA256()
        func read(_ path: String) throws(SightlineError) -> YAMLFile {
            let file = try YAMLFile(path: path, code: .policy)
            digest.update(data: Data(path.split(separator: "/").last!.utf8))
            digest.update(data: Data(file.text.utf8))
            return file
        }

        let gateways = try loadGateways(read(gatewaysPath))
        let policyFile = try read(policyPath)
        let (label, rules) = try loadSubmissionRules(policyFile)
        let purposeFiles = ((try? fm.contentsOfDirectory(atPath: purposesDir)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
        guard !purposeFiles.isEmpty else { throw SightlineError(.policy, "\(purposesDir): no purpose files (*.yaml)") }
        var purposes: [String: Purpose] = [:]
        for name in purposeFiles {
            let purpose = try loadPurpose(read(purposesDir + "/" + name), gateways: gateways)
            guard purposes[purpose.name] == nil else {
                throw SightlineError(.policy, "\(purposesDir)/\(name): purpose '\(purpose.name)' is defined twice")
            }
            purposes[purpose.name] = purpose
        }
        var forwarding = ForwardingPolicy.none
        let forwardingPath = directory + "/forwarding.yaml"
        if fm.fileExists(atPath: forwardingPath) {
            forwarding = try ForwardingPolicy.load(read(forwardingPath), purposes: purposes)
        }
        let linkagePath = directory + "/linkage.yaml"
        guard fm.fileExists(atPath: linkagePath) else {
            throw SightlineError(.policy, "\(linkagePath): not found; linkage weights and thresholds are part of the policy")
        }
        let linkage = try LinkageModel.load(read(linkagePath))
        let version = "\(label)+\(Data(digest.finalize()).prefix(6).hexString)"
        let auditRetention = try loadAuditRetention(policyFile, purposes: purposes)
        return Policy(version: version, submissionRules: rules, purposes: purposes, legalGateways: gateways, forwarding: forwarding,
                      linkage: linkage, auditRetention: auditRetention)
    }

    static func loadGateways(_ file: YAMLFile) throws(SightlineError) -> [String: LegalGateway] {
        let root = try file.root().dictionary(allowedKeys: ["gateways"])
        var out: [String: LegalGateway] = [:]
        for (id, node) in try root.required("gateways", in: file.root()).mapping() {
            let d = try node.dictionary(allowedKeys: ["title", "permits"])
            out[id] = LegalGateway(id: id, title: try d.required("title", in: node).string(),
                                   permits: try d.required("permits", in: node).string())
        }
        return out
    }

    /// `audit-retention: P10Y`: the log must outlive what it records, so it is at least the
    /// longest retention of any purpose (a DPO answering a subject access request about a record
    /// still held needs its disclosures).
    static func loadAuditRetention(_ file: YAMLFile, purposes: [String: Purpose]) throws(SightlineError) -> String? {
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["version", "submissions", "audit-retention"])
        guard let node = root["audit-retention"] else { return nil }
        let period = try node.string()
        guard period.range(of: #"^P[1-9][0-9]{0,2}[YMD]$"#, options: .regularExpression) != nil else {
            throw node.error("audit-retention must be an ISO 8601 period such as P10Y (1 to 999 years, months or days)")
        }
        if let longest = purposes.values.max(by: { RetentionRules.days($0.retention) < RetentionRules.days($1.retention) }),
           RetentionRules.days(period) < RetentionRules.days(longest.retention) {
            throw node.error("audit-retention \(period) is shorter than purpose \(longest.name)'s retention \(longest.retention); the log must keep the disclosures of every record still held")
        }
        return period
    }

    static func loadSubmissionRules(_ file: YAMLFile) throws(SightlineError) -> (String, [SubmissionRule]) {
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["version", "submissions", "audit-retention"])
        let label = try root.required("version", in: rootNode).string()
        var rules: [SubmissionRule] = []
        var names = Set<String>()
        for node in try root.required("submissions", in: rootNode).sequence() {
            let d = try node.dictionary(allowedKeys: ["rule", "kind", "roles"])
            let name = try d.required("rule", in: node).string()
            guard names.insert(name).inserted else { throw d["rule"]!.error("rule name '\(name)' is used twice") }
            let kindNode = try d.required("kind", in: node)
            guard let kind = RecordKind(rawValue: try kindNode.string()) else {
                throw kindNode.error("unknown record kind; expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let rolesNode = try d.required("roles", in: node)
            var roles = Set<Role>()
            for r in try rolesNode.sequence() {
                guard let role = Role(rawValue: try r.string()), Role.submitters.contains(role) else {
                    throw r.error("not a submitting role; expected one of \(Role.submitters.map(\.rawValue).sorted().joined(separator: ", "))")
                }
                guard role == kind.sourceRole else {
                    throw r.error("\(kind.rawValue) records come from \(kind.sourceRole.rawValue) participants, not \(role.rawValue)")
                }
                roles.insert(role)
            }
            rules.append(SubmissionRule(name: name, kind: kind, roles: roles))
        }
        return (label, rules)
    }

    static func loadPurpose(_ file: YAMLFile, gateways: [String: LegalGateway]) throws(SightlineError) -> Purpose {
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["purpose", "title", "legal-gateways", "recipients", "uses", "minimise", "retention", "reports", "enquiries"])
        let nameNode = try root.required("purpose", in: rootNode)
        let name = try nameNode.string()
        let expected = (file.path.split(separator: "/").last ?? "").replacingOccurrences(of: ".yaml", with: "")
        guard name == expected else { throw nameNode.error("purpose '\(name)' must be in a file named \(name).yaml") }

        let gatewaysNode = try root.required("legal-gateways", in: rootNode)
        let cited = try gatewaysNode.strings()
        guard !cited.isEmpty else { throw gatewaysNode.error("a purpose must cite at least one legal gateway") }
        for (i, id) in cited.enumerated() where gateways[id] == nil {
            throw try gatewaysNode.sequence()[i].error("unknown legal gateway '\(id)'; define it in legal-gateways.yaml")
        }

        let recipientsNode = try root.required("recipients", in: rootNode)
        let recipients = try recipientsNode.strings()
        for (i, r) in recipients.enumerated() where r != Purpose.currentSchool {
            let parts = r.split(separator: "/", omittingEmptySubsequences: false)
            guard let role = Role(rawValue: String(parts[0])), role == .partner || role == .school,
                  parts.count == 1 || (parts.count == 2 && !parts[1].isEmpty) else {
                throw try recipientsNode.sequence()[i].error("recipients are the partner or school role, one participant such as partner/304-cme, or current-school (only a forwarding rule's current-school logic uses it)")
            }
        }

        var uses: [RecordKind: Set<String>] = [:]
        let usesNode = try root.required("uses", in: rootNode)
        for (kindName, fieldsNode) in try usesNode.mapping() {
            guard let kind = RecordKind(rawValue: kindName) else {
                throw fieldsNode.keyError("unknown record kind; expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var fields = Set<String>()
            for f in try fieldsNode.sequence() {
                let field = try f.string()
                guard kind.schema.field(field) != nil else {
                    throw f.error("'\(field)' is not a field of \(kind.rawValue); its fields are \(kind.schema.fieldNames.joined(separator: ", "))")
                }
                fields.insert(field)
            }
            uses[kind] = fields
        }
        for condition in conditionsForSensitiveFields {
            guard let used = uses[condition.kind] else { continue }
            let touches = condition.fields.map { !used.isDisjoint(with: $0) } ?? !used.isEmpty
            guard touches else { continue }
            if condition.gateways.isDisjoint(with: cited) {
                throw gatewaysNode.error("the purpose uses \(condition.what) from \(condition.kind.rawValue) and must cite \(condition.gateways.sorted().joined(separator: " or "))")
            }
            // Special-category and criminal-offence data go only to those with a role in the
            // purpose: a whole role would let every partner team (or every school) use it.
            for (i, r) in recipients.enumerated() where !r.contains("/") && r != Purpose.currentSchool {
                throw try recipientsNode.sequence()[i].error("recipient '\(r)' is a whole role, but the purpose uses \(condition.what) from \(condition.kind.rawValue); name each recipient participant instead (e.g. \(r == "school" ? "current-school for Operation Encompass notices" : "partner/304-mash"))")
            }
        }

        var minimise: [String: Minimisation] = [:]
        if let minNode = root["minimise"] {
            for (attribute, node) in try minNode.mapping(allowedKeys: Set(Minimisation.allowed.keys)) {
                let text = try node.string()
                guard let m = Minimisation(rawValue: text), Minimisation.allowed[attribute]!.contains(m) else {
                    throw node.error("\(attribute) can be minimised to \(Minimisation.allowed[attribute]!.map(\.rawValue).joined(separator: ", "))")
                }
                minimise[attribute] = m
            }
        }
        for attribute in Minimisation.allowed.keys where minimise[attribute] == nil {
            minimise[attribute] = .drop  // deny by default: an attribute with no rule does not leave
        }

        let retentionNode = try root.required("retention", in: rootNode)
        let retention = try retentionNode.string()
        guard retention.range(of: #"^P[1-9][0-9]{0,2}[YMD]$"#, options: .regularExpression) != nil else {
            throw retentionNode.error("retention must be an ISO 8601 period such as P2Y, P18M or P90D (1 to 999 years, months or days)")
        }
        var reports: [ReportKind: ReportSettings] = [:]
        if let reportsNode = root["reports"] {
            for (reportName, node) in try reportsNode.mapping() {
                guard let report = ReportKind(rawValue: reportName) else {
                    throw node.keyError("unknown report; expected one of \(ReportKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                for (kind, fields) in report.fieldsRead {
                    let missing = fields.subtracting(uses[kind] ?? [])
                    if !missing.isEmpty {
                        throw node.keyError("report \(reportName) reads \(kind.rawValue) \(missing.sorted().joined(separator: ", ")), which this purpose does not use; add them to uses or drop the report")
                    }
                }
                var settings = ReportSettings()
                if node.isScalar == false, case let d = try node.dictionary(allowedKeys: ["suppress-below", "school-days"]) {
                    if let v = d["suppress-below"] { settings.suppressBelow = try v.int() }
                    if let v = d["school-days"] { settings.schoolDays = try v.int() }
                }
                reports[report] = settings
            }
        }
        var purpose = Purpose(name: name, title: try root.required("title", in: rootNode).string(), legalGateways: cited,
                              recipients: recipients, uses: uses, minimise: minimise, retention: retention, file: file.path, reports: reports)
        if let node = root["enquiries"] { purpose.enquiries = try EnquiryRules.load(node, uses: uses) }
        return purpose
    }
}
