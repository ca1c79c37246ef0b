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
        // The code of the DocC articles (Sources/*/*.docc) and the README, compiled but never run: a change
        // to the public API that breaks a snippet breaks this build (tools/tests/test_example_package.py).
        .executableTarget(
            name: "ArticleSnippets",
            dependencies: [
                .product(name: "QKVFormat", package: "qkv"),
                .product(name: "QKVInference", package: "qkv"),
                .product(name: "QKVTokenizers", package: "qkv"),
                .product(name: "QKVTemplates", package: "qkv"),
                .product(name: "QKVVisualize", package: "qkv"),
            ]
        ),
    ]
)
