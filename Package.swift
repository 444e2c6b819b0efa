// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "autodiffd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "autodiffd", targets: ["autodiffd"]),
        .library(name: "AutodiffCore", targets: ["AutodiffCore"]),
        .library(name: "AutodiffService", targets: ["AutodiffService"]),
        .library(name: "AutodiffClient", targets: ["AutodiffClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // Tensors, the op table, graphs and differentiation. No HTTP, no NIO, no JSON.
        .target(name: "AutodiffCore", dependencies: ["CBLASShim"]),
        // Loads OpenBLAS at run time with a core chosen from cpuid (BLAS.swift); no link-time dependency.
        .target(name: "CBLASShim", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // Exact, fast decimal-to-float64 reading: a C entry point over Debian's header-only
        // fast_float (apt-get install libfast-float-dev).
        .target(name: "CFastFloat"),
        // Shortest round-trip float64 text, formatted as Swift's `Double.description`: a C entry
        // point over Debian's header-only Dragonbox (apt-get install libdragonbox-dev).
        .target(name: "CDragonbox"),
        // Base64 encoding and decoding in C, with AVX2 or AVX-512 VBMI chosen at run time from the CPU.
        .target(name: "CBase64"),
        // Routes, wire types, error mapping, worker pool, configuration.
        .target(
            name: "AutodiffService",
            dependencies: [
                "AutodiffCore",
                "CFastFloat",
                "CDragonbox",
                "CBase64",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The connection handler (100-continue, flush before close, client departure).
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                // HTTPParserError: a client that closes its connection in the middle of its body.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // The thin executable: parse configuration, bootstrap logging, run.
        .executableTarget(
            name: "autodiffd",
            dependencies: [
                "AutodiffCore",
                "AutodiffService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The engine benchmark (not part of `swift test`): `swift run -c release autodiffd-bench`.
        .executableTarget(name: "autodiffd-bench", dependencies: ["AutodiffCore"]),
        .testTarget(name: "AutodiffCoreTests", dependencies: ["AutodiffCore"]),
        .testTarget(
            name: "AutodiffServiceTests",
            dependencies: [
                "AutodiffService",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        // Starts the real binaries (server, example) and talks to them with curl and AutodiffClient.
        .testTarget(name: "IntegrationTests", dependencies: ["autodiffd", "AutodiffClient", "autodiffd-example-fit"]),
        // A client for Swift programs on URLSession; depends on nothing of the server's.
        .target(name: "AutodiffClient"),
        // examples/fit-line: gradient descent through registered-graph calls, run by IntegrationTests.
        .executableTarget(name: "autodiffd-example-fit", dependencies: ["AutodiffClient"], path: "examples/fit-line"),
    ]
)

// The request-body fuzzer (Fuzz/run-body.sh). Only declared when AUTODIFFD_FUZZ is set: libFuzzer
// supplies its `main`, and it reaches into the service with `@testable import`.
if Context.environment["AUTODIFFD_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "autodiffd-fuzz-body",
            dependencies: [
                "AutodiffCore", "AutodiffService", .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Fuzz/Body"
        ))
}
