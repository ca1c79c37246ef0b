// swift-tools-version:6.0
import PackageDescription

// A program that embeds qkv as a library: it depends on the qkv package by path and uses only its public
// API (QKVInference for the models, QKVTokenizers for a standalone tokenizer). tools/tests/test_example_package.py
// builds and runs it against the `qkv` command's own answers.
let package = Package(
    name: "QKVExample",
    dependencies: [
        .package(name: "qkv", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "QKVExample",
            dependencies: [
                .product(name: "QKVInference", package: "qkv"),
                .product(name: "QKVTokenizers", package: "qkv"),
            ]
        ),
    ]
)
