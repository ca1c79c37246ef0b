import Foundation
import XCTest
@testable import QKVFormat

/// Paths of the repository's fixtures and a scratch directory per test.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> String { root.appendingPathComponent("Fixtures/\(name)").path }

    /// The fixture files and what `tools/make_fixtures.py` (numpy, h5py, zlib) recorded about them, read
    /// at each use (JSON's `Any` values are not `Sendable`, so they are not kept in a global).
    static var expected: [String: [String: Any]] {
        let data = try! Data(contentsOf: root.appendingPathComponent("Fixtures/expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    }
}

extension XCTestCase {
    /// A fresh directory removed after the test.
    func scratchDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// Asserts that `body` throws exactly `expected`.
    func assertThrows<E: Error & Equatable>(_ expected: E, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
        } catch let error as E {
            XCTAssertEqual(error, expected, file: file, line: line)
        } catch {
            XCTFail("expected \(expected), got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

extension XCTestCase {
    /// Converts `source` to `.qkv`, that to HDF5 and that to a Hugging Face folder (`dir/name.qkv`,
    /// `.h5`, `name/`), and asserts each keeps the config, the tokenizer and the bytes of every tensor
    /// `compared` picks. Returns the folder.
    @discardableResult
    func assertRoundTripsThroughEveryContainer(_ source: String, in dir: String, name: String, compared: (TensorInfo) -> Bool = { _ in true },
                                               file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let original = try ModelFile(try openWeightFile(path: source))
        try Converter.convert(input: source, output: "\(dir)/\(name).qkv", format: .qkv)
        try Converter.convert(input: "\(dir)/\(name).qkv", output: "\(dir)/\(name).h5", format: .hdf5)
        try Converter.convert(input: "\(dir)/\(name).h5", output: "\(dir)/\(name)/", format: .safetensors)
        for path in ["\(dir)/\(name).qkv", "\(dir)/\(name).h5", "\(dir)/\(name)/"] {
            let back = try ModelFile(try openWeightFile(path: path))
            XCTAssertEqual(back.config, original.config, path, file: file, line: line)
            XCTAssertEqual(back.tokenizer, original.tokenizer, path, file: file, line: line)
            for info in original.orderedTensors where compared(info) {
                XCTAssertTrue(try original.file.tensor(info.name).hasSameBytes(as: try back.file.tensor(info.name)), "\(path) \(info.name)",
                              file: file, line: line)
            }
        }
        return "\(dir)/\(name)"
    }
}

/// Reads a whole file.
func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
func writeBytes(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// An in-memory weight file, to test schema checks without a container.
final class MemoryWeightFile: WeightFile {
    let path = "memory.qkv"
    let format = ContainerFormat.qkv
    var metadata: Metadata
    var tensors: [TensorInfo]
    init(metadata: Metadata, tensors: [TensorInfo]) {
        self.metadata = metadata
        self.tensors = tensors
    }
    func tensor(_ name: String) throws -> TensorView {
        let info = tensors.first { $0.name == name }!
        let storage = OwnedStorage(count: info.byteCount)
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }
}

/// A small valid LLaMA-style config with GQA, for schema tests.
func tinyLlamaConfig() -> ModelConfig {
    var config = ModelConfig(family: .llama, vocabSize: 16, modelDim: 8, layerCount: 1, headCount: 4, keyValueHeadCount: 2,
                             headDim: 2, ffnDim: 12, maxPositions: 32, norm: .rmsnorm, normEpsilon: 1e-6,
                             normPlacement: .pre, activation: .silu, positionEncoding: .rope)
    config.rope = .init(theta: 10000, layout: .half)
    config.gatedMLP = true
    config.specialTokens = [.bos: 1, .eos: 2]
    return config
}

/// A weight file that follows the schema of `config` exactly, with f32 tensors.
func conformingFile(_ config: ModelConfig, tokenizer: TokenizerData? = nil) -> MemoryWeightFile {
    var metadata = Metadata()
    for (k, v) in config.metadata { metadata[k] = v }
    for (k, v) in tokenizer?.metadata ?? [:] { metadata[k] = v }
    let tensors = ModelSchema.expectedTensors(for: config).map { TensorInfo(name: $0.name, role: $0.role, dtype: .f32, shape: $0.shape) }
    return MemoryWeightFile(metadata: metadata, tensors: tensors)
}
