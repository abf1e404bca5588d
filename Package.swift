// swift-tools-version:6.0
import PackageDescription

// One target per pipeline stage: capture → decode → features → match → verdict → output.
// Decode, Features, Match and Output never see libpcap; they work on byte buffers.

// Runtime exclusivity checks on class properties were 58 % of the per-SYN time in release
// builds (perf, tools/bench.sh); the debug build used by the tests keeps them.
let perPacket: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
let package = Package(
    name: "synprint",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "synprint", targets: ["synprint"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
    ],
    targets: [
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", providers: [.apt(["libpcap-dev"])]),
        // json-c reads the database (README, Database parsing: 10x faster than JSONSerialization).
        .systemLibrary(name: "CJSON", path: "Sources/CJSON", providers: [.apt(["libjson-c-dev"])]),
        .target(name: "Decode", path: "Sources/Decode", swiftSettings: perPacket),
        .target(name: "Features", dependencies: ["Decode"], path: "Sources/Features", swiftSettings: perPacket),
        .target(name: "Match", dependencies: ["CJSON", "Features"], path: "Sources/Match", swiftSettings: perPacket),
        .target(name: "Verdict", dependencies: ["Decode", "Features", "Match"], path: "Sources/Verdict", swiftSettings: perPacket),
        .target(name: "Output", dependencies: ["Features", "Match", "Verdict"], path: "Sources/Output", swiftSettings: perPacket),
        // Database building: labelled SYNs → learned entries; merge, stats, diff.
        .target(
            name: "Learn",
            dependencies: ["Decode", "Features", "Match", "Verdict", .product(name: "SwiftCSV", package: "SwiftCSV")],
            path: "Sources/Learn"),
        // The lookup APIs (HTTP and p0f's unix socket) answer from the verdict stage's host table.
        .target(
            name: "API",
            dependencies: [
                "Decode", "Features", "Match", "Verdict", "Output",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/API"),
        .target(name: "Capture", dependencies: ["CPcap", "Decode"], path: "Sources/Capture"),
        .executableTarget(
            name: "synprint",
            dependencies: [
                "Capture", "Decode", "Features", "Match", "Verdict", "Output", "API", "Learn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/synprint",
            swiftSettings: perPacket),
        .testTarget(
            name: "SynprintTests",
            dependencies: ["Capture", "Decode", "Features", "Match", "Verdict", "Output", "API", "Learn"],
            path: "Tests/SynprintTests"),
    ],
    swiftLanguageModes: [.v5]
)
