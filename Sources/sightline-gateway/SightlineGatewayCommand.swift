import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineGateway

@main
struct SightlineGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightline-gateway",
        abstract: "The Sightline data-sharing gateway daemon.",
        subcommands: [Serve.self, Check.self, Backup.self, Forwards.self, Linkage.self, Retention.self])
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration without starting: config, key file (mode and content), certificates (chain, expiry, SPIFFE URI, key), participants, policy, database mode.",
        discussion: "Prints each problem with its fix. Exit 0 when there is none (warnings allowed), 1 otherwise.")
    @Option(help: "Gateway configuration file.") var config: String

    func run() async throws {
        let findings = await ConfigCheck.run(configPath: config)
        for f in findings { print(f.description) }
        let problems = findings.filter { $0.severity == .problem }.count
        print(problems == 0 ? "\(config): OK\(findings.isEmpty ? "" : " (\(findings.count) warning(s))")" : "\(config): \(problems) problem(s)")
        if problems > 0 { throw ExitCode(1) }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway: mTLS API plus a loopback ops listener.")

    @Option(help: "Gateway configuration file (see ops/gateway.example.yaml).") var config: String?
    @Flag(help: "Create (if missing) and serve a local dev partnership in --state.") var dev = false
    @Option(help: "State directory for --dev.") var state: String?
    @Option(help: "API port for --dev.") var port = 8443
    @Option(name: .customLong("ops-port"), help: "Ops listener port for --dev (/healthz, /readyz, /metrics).") var opsPort = 9464
    @Option(help: "Policy directory for --dev.") var policy = "Policies"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        if dev && state == nil { throw ValidationError("--dev needs --state DIR") }
        if !dev && config == nil { throw ValidationError("give --config FILE, or --dev --state DIR") }
        if dev && config != nil { throw ValidationError("--config and --dev exclude each other") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = {
            var l = Logger(label: "sightline-gateway")
            l.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return l
        }()
        do {
            let gatewayConfig: GatewayConfig
            if dev, let state {
                let (c, created) = try DevEnvironment.prepare(stateDir: state, policyDirectory: policy, port: port, opsPort: opsPort)
                gatewayConfig = c
                let root = URL(fileURLWithPath: state).standardizedFileURL.path
                FileHandle.standardOutput.write(Data("""
                sightline-gateway dev mode (\(created ? "created" : "reusing") \(root))
                  config:        \(root)/gateway.yaml
                  participants:  \(root)/participants.yaml
                  identities:    \(root)/identities/<role>-<id>/ (cert.pem key.pem ca.pem)
                  database:      \(c.databasePath)
                  api:           https://127.0.0.1:\(c.listen.port)  (mTLS, TLS 1.3)
                  ops:           http://127.0.0.1:\(c.ops.port)/healthz /readyz /metrics
                  forwards:      school/100001 is pushed to https://127.0.0.1:\(c.listen.port + 1) (sightline partner listen); others pull /v1/inbox

                """.utf8))
            } else {
                gatewayConfig = try GatewayConfig.load(path: config!)
            }
            let gateway = try Gateway.load(config: gatewayConfig, logger: logger) { api, ops in
                logger.notice("listening", metadata: ["api": "\(api)", "ops": "\(ops)", "policy": "\(gatewayConfig.policyDirectory)"])
            }
            logger.notice("policy loaded", metadata: ["version": "\(gateway.state.policy.version)", "purposes": "\(gateway.state.policy.purposes.keys.sorted().joined(separator: ","))"])
            try await gateway.run()
            logger.notice("stopped")
        } catch let error as SightlineError {
            FileHandle.standardError.write(Data("sightline-gateway: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
