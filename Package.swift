// swift-tools-version:6.0
import PackageDescription

// One target per pipeline stage: capture → decode → features → match → output.
// Decode, Features, Match and Output never see libpcap; they work on byte buffers.
let package = Package(
    name: "synprint",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "synprint", targets: ["synprint"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "Decode", path: "Sources/Decode"),
        .target(name: "Features", dependencies: ["Decode"], path: "Sources/Features"),
        .target(name: "Match", dependencies: ["Features"], path: "Sources/Match"),
        .target(name: "Output", dependencies: ["Features", "Match"], path: "Sources/Output"),
        .target(name: "Capture", dependencies: ["CPcap", "Decode"], path: "Sources/Capture"),
        .executableTarget(
            name: "synprint",
            dependencies: [
                "Capture", "Decode", "Features", "Match", "Output",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/synprint"),
        .testTarget(
            name: "SynprintTests",
            dependencies: ["Capture", "Decode", "Features", "Match", "Output"],
            path: "Tests/SynprintTests"),
    ],
    swiftLanguageModes: [.v5]
)
