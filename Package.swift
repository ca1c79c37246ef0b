// swift-tools-version:6.0
import PackageDescription

// Layout is architecture: `qkv` (the command) -> [`QKVServer` (HTTP) ->] `QKVInference` (forward passes) ->
// `QKVFormat` (containers, import, export; libhdf5) and `QKVTokenizers` (text to ids), which both stand on
// `QKVSchema` (what a model is: pure Swift, no C). tools/tests/test_module_layering.py checks it.
let package = Package(
    name: "qkv",
    products: [
        .library(name: "QKVSchema", targets: ["QKVSchema"]),
        .library(name: "QKVFormat", targets: ["QKVFormat"]),
        .library(name: "QKVTokenizers", targets: ["QKVTokenizers"]),
        .library(name: "QKVInference", targets: ["QKVInference"]),
        .library(name: "QKVVisualize", targets: ["QKVVisualize"]),
        .library(name: "QKVServer", targets: ["QKVServer"]),
        .library(name: "QKVTemplates", targets: ["QKVTemplates"]),
        .executable(name: "qkv", targets: ["qkv"]),
        // The libFuzzer harness for every reader (tools/fuzz.sh); an ordinary build makes it a reproducer.
        .executable(name: "Fuzz", targets: ["Fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` for the DocC catalogs (tools/docs.sh); a plugin, linked into nothing.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian, each behind a shim header (Sources/C*/shim.h says why).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Kernels in C with x86 intrinsics, chosen at run time (include/qkv_kernels.h says why C): decode
        // matrix-vector products from f16/bf16/q8_0 and the other block types, one head's attention, and
        // the hooks that make OpenBLAS pick its kernels again (CRC-32 is in CQKVChecksum).
        // Optimised in every configuration: at -O0 (SwiftPM's debug default) the intrinsics run 20x slower,
        // and the debug-built tests run real models through them.
        .target(name: "CQKVKernels", cSettings: [.unsafeFlags(["-O2"])]),

        // CRC-32, the checksum of `.qkv`, by carry-less multiplication (include/qkv_crc32.h says why C).
        .target(name: "CQKVChecksum", cSettings: [.unsafeFlags(["-O2"])]),
        // File-system calls Swift's Glibc does not import (sync_file_range: early writeback of outputs).
        .target(name: "CQKVFiles"),

        // What a model is, in pure Swift with no C library: dtypes, metadata, config, tokenizer data,
        // tensor roles and views, the schema's errors, and Hugging Face tokenizer files read into it.
        .target(name: "QKVSchema"),
        // The containers (.qkv, HDF5, safetensors, GGUF, PyTorch), import and export, the architecture
        // maps; re-exports QKVSchema.
        .target(name: "QKVFormat", dependencies: ["QKVSchema", "CHDF5", "CQKVChecksum", "CQKVFiles"]),
        // Text to token ids and back, from tokenizer data: a model file's or a `tokenizer.json`'s.
        .target(name: "QKVTokenizers", dependencies: ["QKVSchema"]),
        // Forward passes over mapped weights; matrix products through OpenBLAS.
        .target(name: "QKVInference", dependencies: ["QKVFormat", "QKVTokenizers", "COpenBLAS", "CQKVKernels"]),
        // Attention reports as terminal tables, HTML, SVG, PNG, JSON and NPY; PNG deflate through zlib.
        .target(name: "QKVVisualize", dependencies: ["QKVInference", "QKVFormat", "CZlib"]),
        // `qkv serve`: an OpenAI-compatible HTTP server (Hummingbird) over the inference module; /metrics
        // through swift-prometheus.
        .target(name: "QKVServer", dependencies: [
            "QKVInference", "QKVFormat", "QKVTokenizers", "QKVTemplates",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Jinja chat templates rendered as transformers renders them; JSON read by the schema's one parser;
        // no C.
        .target(name: "QKVTemplates", dependencies: ["QKVSchema"]),
        .executableTarget(
            name: "qkv",
            dependencies: [
                "QKVFormat",
                "QKVInference",
                "QKVTokenizers",
                "QKVVisualize",
                "QKVServer",
                // The command alone picks OpenBLAS's kernels for the CPU, re-running itself if it must
                // (BLASKernelChoice.swift), and puts OpenBLAS on one thread (BLASThreads.swift): a
                // library never changes the process.
                "COpenBLAS",
                "CQKVKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(name: "Fuzz", dependencies: ["QKVFormat"]),

        .testTarget(name: "QKVFormatTests", dependencies: ["QKVFormat", "CZlib"]),  // zlib: the CRC-32 reference
        // Tokenizers from `tokenizer.json` files alone: no container library.
        .testTarget(name: "QKVTokenizersTests", dependencies: ["QKVTokenizers"]),
        // Tokenizers as model files carry them (HDF5, GGUF, Hugging Face folders), against their references.
        .testTarget(name: "QKVModelTokenizerTests", dependencies: ["QKVTokenizers", "QKVFormat"]),
        .testTarget(name: "QKVInferenceTests", dependencies: ["QKVInference", "QKVFormat"]),
        .testTarget(name: "QKVVisualizeTests", dependencies: ["QKVVisualize", "QKVInference", "QKVTokenizers", "QKVFormat", "CZlib"]),
        .testTarget(name: "QKVTemplatesTests", dependencies: ["QKVTemplates"]),
        // The server's parts that need no socket (tool-call parsing against jinja2's renderings, request bodies
        // and error answers); tools/tests/test_serve*.py run it whole.
        .testTarget(name: "QKVServerTests", dependencies: ["QKVServer", "QKVTemplates", "QKVTokenizers", "QKVSchema"]),
        // Runs the built `qkv` binary: output and exit codes as a user sees them.
        .testTarget(name: "QKVCommandTests", dependencies: ["qkv", "QKVFormat"]),
    ]
)
