// swift-tools-version:6.0
import PackageDescription

// Layout is architecture: `qkv` (the command) -> `QKVFormat` (schema, tensors, containers) -> C libraries.
let package = Package(
    name: "qkv",
    products: [
        .library(name: "QKVFormat", targets: ["QKVFormat"]),
        .executable(name: "qkv", targets: ["qkv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian, each behind a shim header (Sources/C*/shim.h says why).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        .target(name: "QKVFormat", dependencies: ["CHDF5", "CZlib"]),
        .executableTarget(
            name: "qkv",
            dependencies: [
                "QKVFormat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "QKVFormatTests", dependencies: ["QKVFormat"]),
        // Runs the built `qkv` binary: output and exit codes as a user sees them.
        .testTarget(name: "QKVCommandTests", dependencies: ["qkv", "QKVFormat"]),
    ],
    swiftLanguageModes: [.v5]
)
