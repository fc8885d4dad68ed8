import ArgumentParser
import Foundation
import SightlineCore

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage the gateway's key file.",
                                                    subcommands: [Init.self, Upgrade.self, Rotate.self, Forget.self])

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace one key with a fresh one under a new key id, keeping what the gateway needs of the old.",
            discussion: """
            Run it as the gateway's service user on the gateway's host, then `systemctl reload sightline` (SIGHUP): the \
            running gateway checks the file, records the rotation in the audit log, and migrates what is stored under the \
            old key while it serves. link: the old key stays in the file (new digests are the old ones wrapped by the new \
            key). sealing: the old key stays until `keys forget` after the migration completes. recipient: the old key is \
            destroyed; pseudonyms partners hold do not change. audit: the old private key is destroyed once the gateway has \
            signed the handover with the key it holds in memory, so rotate the audit key only while the gateway runs.
            """)
        @Option(help: "The key to rotate: \(RotatableKey.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: String
        @Option(help: "The gateway's key file.") var file: String

        func validate() throws {
            guard RotatableKey(rawValue: kind) != nil else {
                throw ValidationError("--kind must be one of \(RotatableKey.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            do {
                let keys = try KeyMaterial.load(from: file)
                let rotated = keys.rotated(RotatableKey(rawValue: kind)!)
                try KeyMaterial.replace(path: file, with: rotated)
                let (old, new): (String, String) = switch RotatableKey(rawValue: kind)! {
                case .link: (keys.linkKeyID, rotated.linkKeyID)
                case .recipient: (keys.recipientKeyID, rotated.recipientKeyID)
                case .sealing: (keys.sealingKeyID, rotated.sealingKeyID)
                case .audit: (keys.auditSigningKeyID, rotated.auditSigningKeyID)
                }
                print("rotated the \(kind) key in \(file): \(old) -> \(new)")
                print("Now reload the gateway (systemctl reload sightline, or kill -HUP its pid) and watch the audit log for key-rotated and key-rotation-completed.")
            } catch { fail(error.message) }
        }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove retired sealing keys from the key file once the gateway has re-sealed everything under the current one.",
            discussion: "Check first: the audit log has key-rotation-completed for the sealing key and sightline_key_rotation_pending{kind=\"sealing\"} is 0. Backups taken before the rotation need the retired key: keep a copy of the old key file with them.")
        @Option(help: "The gateway's key file.") var file: String

        func run() throws {
            do {
                let keys = try KeyMaterial.load(from: file)
                guard !keys.history.sealing.isEmpty else { print("\(file) holds no retired sealing key"); return }
                try KeyMaterial.replace(path: file, with: keys.forgettingRetiredSealingKeys())
                print("forgot \(keys.history.sealing.map(\.id).joined(separator: ", ")) in \(file); reload the gateway")
            } catch { fail(error.message) }
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write fresh random keys (HMAC link, recipient, sealing and digest keys, Ed25519 audit key) at mode 0600.")
        @Option(help: "Key file to create; never overwritten.") var out: String

        func run() throws {
            let keys = KeyMaterial.generate()
            do { try keys.write(to: out) } catch { fail(error.message) }
            print("wrote \(out) (mode 0600): link key \(keys.linkKeyID), recipient key \(keys.recipientKeyID), sealing key \(keys.sealingKeyID), digest key \(keys.digestKeyID), audit key \(keys.auditSigningKeyID)")
            print("Keep it with the gateway only; back it up encrypted. Anyone holding it can re-identify pseudonyms.")
        }
    }

    struct Upgrade: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the keys a key file from an earlier version lacks (the request-digest key), keeping every existing key.")
        @Option(help: "The gateway's key file (stop the gateway first).") var file: String

        func run() throws {
            do {
                let added = try KeyMaterial.upgrade(path: file)
                print(added.isEmpty ? "\(file) already holds every key" : "added \(added.joined(separator: ", ")) to \(file) (mode 0600)")
            } catch { fail(error.message) }
        }
    }
}

struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A partnership CA and participant certificates (P-256).",
                                                    subcommands: [InitCA.self, Issue.self])

    struct InitCA: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init-ca", abstract: "Create a partnership CA in --dir (ca.pem, ca-key.pem at 0600).")
        @Option(help: "Directory for the CA.") var dir: String
        @Option(help: "CA name.") var name = "Sightline partnership CA"
        @Option(help: "Validity in days.") var days = 3650

        func run() throws {
            guard !FileManager.default.fileExists(atPath: dir + "/ca-key.pem") else { fail("\(dir)/ca-key.pem exists; a CA is never overwritten") }
            let ca = try PartnershipCA.create(name: name, validityDays: days)
            try ca.write(to: dir)
            print("created CA '\(name)' in \(dir): ca.pem (give to participants), ca-key.pem (keep offline, mode 0600)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a participant certificate whose URI SAN is spiffe://<trust-domain>/<role>/<id>.",
            discussion: "Writes cert.pem, key.pem (0600) and ca.pem into --out: the layout --identity reads.")
        @Option(help: "Role: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).") var role: String
        @Option(help: "Participant id, e.g. a school URN or an ODS code.") var id: String
        @Option(name: .customLong("ca-dir"), help: "CA directory from init-ca.") var caDir: String
        @Option(help: "Output identity directory.") var out: String
        @Option(name: .customLong("trust-domain"), help: "Trust domain of the partnership.") var trustDomain = "brent.sightline"
        @Option(help: "Validity in days.") var days = 397
        @Flag(help: "The participant receives pushed forwards (`sightline partner listen`): add serverAuth. Without it the certificate can only call the gateway, so it cannot pose as a server.")
        var serves = false

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("unknown --role \(role); expected one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))") }
            guard ParticipantIdentity(uri: "spiffe://\(trustDomain)/\(role)/\(id)") != nil else {
                throw ValidationError("--id may hold letters, digits, '-' and '_'; --trust-domain lowercase letters, digits, '-', '_' and '.' between labels")
            }
        }

        func run() throws {
            let ca: PartnershipCA
            do { ca = try PartnershipCA.load(directory: caDir) } catch { fail(error.message) }
            let identity = ParticipantIdentity(uri: "spiffe://\(trustDomain)/\(role)/\(id)")!
            try IdentityDirectory.write(try ca.issueParticipant(identity, serves: serves, validityDays: days), caPEM: ca.certificatePEM, to: out)
            print("issued \(identity.uri) into \(out) (cert.pem, key.pem, ca.pem; \(serves ? "clientAuth, serverAuth" : "clientAuth only")); add '\(identity.shortName)' to the participants file")
        }
    }
}

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Read and check the sharing policy.",
                                                    subcommands: [Lint.self, Explain.self])

    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the policy files; print file:line: problem and exit 1 on the first problem.")
        @Option(help: "Policy directory.") var policy = "Policies"

        func run() throws {
            let loaded: Policy
            do { loaded = try PolicyLoader.load(directory: policy) } catch { fail(error.message) }
            print("policy \(loaded.version): OK")
            print("  \(loaded.submissionRules.count) submission rules, \(loaded.legalGateways.count) legal gateways")
            for purpose in loaded.purposes.values.sorted(by: { $0.name < $1.name }) {
                print("  purpose \(purpose.name): \(purpose.title); gateways \(purpose.legalGateways.joined(separator: ", ")); kinds \(purpose.uses.keys.map(\.rawValue).sorted().joined(separator: ", ")); retention \(purpose.retention)")
            }
            for kind in RecordKind.allCases {
                let kept = loaded.fieldsInUse[kind] ?? []
                let dropped = kind.schema.fieldNames.filter { !kept.contains($0) }
                if !dropped.isEmpty { print("  dropped at ingress from \(kind.rawValue): \(dropped.joined(separator: ", "))") }
            }
        }
    }
}

extension PolicyCommand {
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "From the policy files alone: what a participant can see under a purpose, and why.")
        @Option(help: "Policy directory.") var policy = "Policies"
        @Option(help: "Purpose name.") var purpose: String
        @Option(help: "Participant as <role>/<id>, e.g. partner/304-cme.") var participant: String
        @Option(help: "Only this record kind.") var kind: String?

        func run() throws {
            let loaded: Policy
            do { loaded = try PolicyLoader.load(directory: policy) } catch { fail(error.message) }
            guard let p = loaded.purposes[purpose] else {
                fail("no purpose '\(purpose)' in \(policy); purposes: \(loaded.purposes.keys.sorted().joined(separator: ", "))")
            }
            guard let identity = ParticipantIdentity(uri: "spiffe://policy.explain/\(participant)") else {
                fail("--participant is <role>/<id> with role one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let kind, RecordKind(rawValue: kind) == nil { fail("unknown --kind \(kind)") }
            print("policy \(loaded.version), purpose \(p.name): \(p.title)  (\(p.file))")
            let decision = p.access(for: identity)
            print("\(participant): \(decision.isAllowed ? "MAY" : "MAY NOT") use \(p.name) - \(decision.reason) (rule \(decision.rule); recipients: \(p.recipients.joined(separator: ", ")))")
            print("legal gateways:")
            for id in p.legalGateways {
                let g = loaded.legalGateways[id]
                print("  \(id): \(g?.title ?? "?") - \(g?.permits ?? "")")
            }
            guard decision.isAllowed else {
                print("Nothing is visible to \(participant) under \(p.name): deny by default.")
                return
            }
            print("identifiers: never shown; date of birth -> \(p.minimise["dateOfBirth"]?.rawValue ?? "drop"), postcode -> \(p.minimise["postcode"]?.rawValue ?? "drop"); retention \(p.retention)")
            print("visible record kinds and fields:")
            for k in RecordKind.allCases where kind == nil || kind == k.rawValue {
                let submitters = loaded.submissionRules.filter { $0.kind == k }.map { "\($0.roles.map(\.rawValue).sorted().joined(separator: "/")) via rule \($0.name)" }
                if let fields = p.uses[k] {
                    let hidden = k.schema.fieldNames.filter { !fields.contains($0) }
                    print("  \(k.rawValue): \(k.schema.fieldNames.filter(fields.contains).joined(separator: ", "))")
                    if !hidden.isEmpty { print("      not visible: \(hidden.joined(separator: ", "))") }
                    print("      submitted by \(submitters.isEmpty ? "nobody (no submission rule)" : submitters.joined(separator: "; "))")
                } else {
                    print("  \(k.rawValue): not visible (the purpose does not use it)")
                }
            }
            let reports = p.reports.keys.map(\.rawValue).sorted()
            print("reports: \(reports.isEmpty ? "none" : reports.joined(separator: ", "))")
            if let e = p.enquiries {
                let approval = e.approval.map { "; an enquiry leaves only when \($0.by.joined(separator: " or ")) (not the asker, same LA) approves it within \($0.within), else it expires" } ?? "; no second approval"
                print("enquiries: may ask \(e.ask.map(\.rawValue).sorted().joined(separator: ", ")) about their own records of a child; answers due within \(e.deadline)\(approval)")
            } else {
                print("enquiries: none (the purpose allows no enquiries)")
            }
            Self.printLinkage(loaded.linkage)
        }

        /// Which records count as one child, the same for every purpose: the thresholds and each
        /// level's weight, log2(m/u), as the matcher uses them.
        static func printLinkage(_ model: LinkageModel) {
            func w(_ x: Double) -> String { (x >= 0 ? "+" : "") + String(format: "%.1f", x) }
            print("linkage (\(model.file)), the same for every purpose:")
            print("  a record joins a child at a score of \(w(model.join)) or more; from \(w(model.review)) to below \(w(model.join)) it is a new child and the pair waits for a steward; below, a new child")
            print("  a shared NHS number or UPN joins (a different date of birth sends the pair to review); a different one keeps children apart")
            for field in ComparisonField.allCases {
                guard let f = model.fields[field] else { continue }
                let levels = field.levels.compactMap { level in f.levels[level].map { "\(level.rawValue) \(w($0.weight))" } }
                print("  \(field.rawValue): \(levels.joined(separator: ", "))\(f.termFrequency ? " (exact: by the name's frequency)" : "")")
            }
            print("  postcode, address and UPRN agreement counts once (the strongest); an address agreeing within an agreeing postcode adds \(w(model.addressWithinPostcode.weight))")
        }
    }
}
