// swift-tools-version:6.1
import PackageDescription

// Dependencies are deliberate: each is a Swift server ecosystem package that does one job.
// Versions are the ones mirrored on our build machines; see README.md "Dependencies".
let package = Package(
    name: "sightline",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sightline-gateway", targets: ["sightline-gateway"]),
        .executable(name: "sightline", targets: ["sightline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // Pure domain logic: no networking, no database.
        .target(
            name: "SightlineCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SightlineStore",
            dependencies: [
                "SightlineCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The C API itself, for the linker's hot statements (RawStatements.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The partnership's TLS for every endpoint: NIOSSL settings and an mTLS HTTP/1.1 client whose
        // server must be the peer it expects (the identity check itself is in SightlineCore).
        .target(
            name: "SightlineTLS",
            dependencies: [
                "SightlineCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .target(
            name: "SightlineGateway",
            dependencies: [
                "SightlineCore",
                "SightlineStore",
                "SightlineTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SightlineClient",
            dependencies: [
                "SightlineCore",
                "SightlineTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                // `sightline partner listen`: the receiving end of forwards (Hummingbird server, mTLS).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sightline-gateway",
            dependencies: [
                "SightlineGateway",
                "SightlineStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "sightline",
            dependencies: [
                "SightlineCore",
                "SightlineClient",
                "SightlineStore",  // `audit verify --database`: reads a gateway's SQLite file, read-only
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Figures beside their baselines (ops/benchmarks.md); drives a release-built gateway process.
        .executableTarget(
            name: "sightline-bench",
            dependencies: [
                "SightlineCore",
                "SightlineStore",
                "SightlineClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SightlineCoreTests", dependencies: ["SightlineCore", .product(name: "X509", package: "swift-certificates")]),
        .testTarget(name: "SightlineStoreTests", dependencies: ["SightlineStore", "SightlineCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "SightlineGatewayTests",
            dependencies: [
                "SightlineGateway", "SightlineCore", "SightlineStore", "SightlineClient", "SightlineTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // Certificates with hostile shapes (two URI SANs, CN only, server-only usage) made per run.
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SightlineClientTests",
            dependencies: [
                "SightlineClient", "SightlineCore", "SightlineTLS",
                // The receiver tests deliver as the gateway does: NIO + NIOSSL, receiver checked with X509.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
