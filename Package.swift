// swift-tools-version:6.0
import PackageDescription

// One target per pipeline stage: capture → decode → features → match → verdict → output, with
// learn beside verdict. SynprintKit composes the stages into the sensor; the command line,
// the lookup APIs and the tests use it. Only Capture sees libpcap: the rest works on bytes.
// docs/ARCHITECTURE.md draws the data flow and the threads.

// Runtime exclusivity checks on class properties were 58 % of the per-SYN time in release
// builds (perf, tools/bench.sh); the debug build used by the tests keeps them.
let perPacket: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
// SYNPRINT_STRICT=1 (CI) turns the project's own warnings into errors; dependencies are not affected.
let strict: [SwiftSetting] = Context.environment["SYNPRINT_STRICT"] == "1" ? [.unsafeFlags(["-warnings-as-errors"])] : []

let package = Package(
    name: "synprint",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "synprint", targets: ["synprint"]),
        // The sensor for other Swift programs: packets in, typed events out.
        .library(name: "SynprintKit", targets: ["SynprintKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", providers: [.apt(["libpcap-dev"])]),
        // json-c reads the database (docs/PERFORMANCE.md, database parsing: faster than JSONSerialization).
        .systemLibrary(name: "CJSON", path: "Sources/CJSON", providers: [.apt(["libjson-c-dev"])]),
        // prctl, which Swift cannot call (variadic), for dropping privileges.
        .systemLibrary(name: "CPrivileges", path: "Sources/CPrivileges"),
        .target(name: "Decode", path: "Sources/Decode", swiftSettings: perPacket + strict),
        .target(name: "Formatting", dependencies: ["Decode"], path: "Sources/Formatting", swiftSettings: perPacket + strict),
        .target(name: "Features", dependencies: ["Decode", "Formatting"], path: "Sources/Features", swiftSettings: perPacket + strict),
        .target(
            name: "Match", dependencies: ["CJSON", "Decode", "Features", "Formatting"], path: "Sources/Match",
            swiftSettings: perPacket + strict),
        // Bounded tables and the connection key that the per-packet stages share.
        .target(name: "Tables", dependencies: ["Decode", "Match"], path: "Sources/Tables", swiftSettings: perPacket + strict),
        .target(
            name: "Verdict",
            dependencies: ["Decode", "Features", "Match", "Tables", "FlowStats", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Verdict", swiftSettings: perPacket + strict),
        // How connections end and what they negotiated (`--connections`), beside the verdicts.
        .target(
            name: "Connections", dependencies: ["Decode", "Features", "Match", "Tables"], path: "Sources/Connections",
            swiftSettings: perPacket + strict),
        // Windowed flow statistics per client and the tunnel rules (`--flow-stats`).
        .target(
            name: "FlowStats", dependencies: ["Decode", "Match", "Tables", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/FlowStats", swiftSettings: perPacket + strict),
        .target(
            name: "Output",
            dependencies: [
                "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", "Connections", "FlowStats",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Output",
            swiftSettings: perPacket + strict),
        .target(
            name: "Learn",
            dependencies: [
                "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", .product(name: "SwiftCSV", package: "SwiftCSV"),
            ],
            path: "Sources/Learn", swiftSettings: strict),
        .target(
            name: "SynprintKit",
            dependencies: [
                "CPrivileges", "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", "Connections", "FlowStats", "Output",
                "Learn",
            ],
            path: "Sources/SynprintKit", swiftSettings: perPacket + strict),
        // The fleet store: events into ClickHouse over HTTP on a thread of its own, a spool on
        // disk while it does not answer; the schema, `clickhouse init` and the report's queries.
        .target(
            name: "Fleet",
            dependencies: [
                "Decode", "Formatting", "Match", "Tables", "Verdict", "Connections", "FlowStats", "Output", "Learn", "SynprintKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Fleet", swiftSettings: strict),
        // The lookup APIs (HTTP and p0f's unix socket) answer from the sensor's host table.
        .target(
            name: "API",
            dependencies: [
                "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", "Connections", "FlowStats", "Output", "SynprintKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/API", swiftSettings: strict),
        .target(name: "Capture", dependencies: ["CPcap", "Decode"], path: "Sources/Capture", swiftSettings: strict),
        .executableTarget(
            name: "synprint",
            dependencies: [
                "Capture", "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", "Output", "SynprintKit", "API", "Learn",
                "Fleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/synprint",
            swiftSettings: perPacket + strict),
        .testTarget(
            name: "SynprintTests",
            dependencies: [
                "Capture", "Decode", "Features", "Formatting", "Match", "Tables", "Verdict", "Connections", "FlowStats", "Output",
                "SynprintKit",
                "API", "Learn", "Fleet",
            ],
            path: "Tests/SynprintTests",
            exclude: ["Fixtures", "Golden"],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer harnesses (tools/fuzz.sh builds them with SYNPRINT_FUZZ=1 and --sanitize=fuzzer,
// which provides their main): packets, TCP options, request heads, database lines, labels files,
// first payloads, forward-auth headers.
if Context.environment["SYNPRINT_FUZZ"] == "1" {
    let harnesses: [(String, [Target.Dependency])] = [
        ("Packet", ["Decode", "Features", "Formatting", "Match"]), ("Options", ["Features", "Formatting"]),
        ("HTTPHead", ["Verdict"]), ("DatabaseLine", ["Match"]), ("Labels", ["Learn"]), ("Payload", ["FlowStats", "Match"]),
        ("AuthHeaders", ["Verdict"]),
    ]
    for (name, dependencies) in harnesses {
        package.targets.append(
            .executableTarget(
                name: "Fuzz\(name)", dependencies: dependencies, path: "Fuzz/\(name)",
                swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
