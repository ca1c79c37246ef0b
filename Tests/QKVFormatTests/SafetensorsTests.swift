import XCTest
@testable import QKVFormat

/// The safetensors reader against the bad-input corpus, and Hugging Face folders (written by numpy and
/// the `safetensors` package, tools/fixtures_hf.py) against the canonical fixtures.
final class SafetensorsTests: XCTestCase {
    struct Case: Decodable { var error: String; var why: String }

    func caseName(_ error: any Error) -> String {
        "\(type(of: error)).\(Mirror(reflecting: error).children.first?.label ?? "\(error)")"
    }

    func testEveryBadSafetensorsFile_isRejectedWithItsManifestError() throws {
        let dir = Paths.root.appendingPathComponent("Fixtures/bad-safetensors")
        let manifest = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        XCTAssertGreaterThanOrEqual(manifest.count, 17)
        var casesSeen = Set<String>()
        for (name, expected) in manifest.sorted(by: { $0.key < $1.key }) {
            let path = dir.appendingPathComponent(name).path
            do {
                _ = try SafetensorsFile(path: path)
                XCTFail("\(name) (\(expected.why)) was accepted")
            } catch {
                XCTAssertEqual(caseName(error), expected.error, "\(name): \(expected.why): got \(error)")
                XCTAssertTrue("\(error)".hasPrefix(path + ":"), "the message names the file: \(error)")
                casesSeen.insert(caseName(error))
            }
        }
        // Every case of the error enum has at least one file.
        let all = ["tooSmall", "headerTooLarge", "headerPastEnd", "headerNotUTF8", "headerNotJSON", "headerNotObject", "duplicateKey",
                   "invalidMetadata", "invalidEntry", "unsupportedDType", "reversedOffsets", "elementCountOverflow",
                   "byteLengthMismatch", "overlappingTensor", "gapBeforeTensor", "dataLengthMismatch"].map { "SafetensorsError.\($0)" }
        XCTAssertEqual(Set(all).subtracting(casesSeen), [])
    }

    func testHFFolders_importToTheCanonicalFixturesBitForBit() throws {
        let hf = Paths.root.appendingPathComponent("Fixtures/hf")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: hf.appendingPathComponent("expected.json"))) as! [String: Any]
        XCTAssertGreaterThanOrEqual(expected.count, 4)
        for (folder, entry) in expected {
            let path = hf.appendingPathComponent(folder).path
            let model = try ModelFile(try openWeightFile(path: path))
            let tensors = ((entry as! [String: Any])["tensors"] as! [String: Any])
            XCTAssertEqual(Set(model.file.tensors.map(\.name)), Set(tensors.keys), folder)
            for (name, want) in tensors {
                let crc = ((want as! [String: Any])["crc32"] as! NSNumber).uint32Value
                XCTAssertEqual(try model.file.tensor(name).withUnsafeBytes { CRC32.checksum($0) }, crc, "\(folder) \(name)")
            }
        }
    }

    func testHFFolders_configMatchesTheCanonicalFixture() throws {
        let hf = Paths.root.appendingPathComponent("Fixtures/hf")
        for (folder, fixture) in [("bert-tiny", "bert-tiny.h5"), ("gpt2-tiny", "gpt2-tiny.h5"), ("llama-tiny", "llama-tiny.h5"), ("llama-tiny-sharded", "llama-tiny.h5")] {
            let imported = try ModelFile(try openWeightFile(path: hf.appendingPathComponent(folder).path))
            let canonical = try ModelFile(try openWeightFile(path: Paths.fixture(fixture)))
            XCTAssertEqual(imported.config, canonical.config, folder)
            XCTAssertEqual(imported.tokenizer?.tokens, canonical.tokenizer?.tokens, folder)
        }
    }

    func testShardedAndSingleFile_convertToTheSameQKV() throws {
        let dir = try scratchDirectory()
        let hf = Paths.root.appendingPathComponent("Fixtures/hf")
        try Converter.convert(input: hf.appendingPathComponent("llama-tiny").path, output: "\(dir)/a.qkv", format: .qkv)
        try Converter.convert(input: hf.appendingPathComponent("llama-tiny-sharded").path, output: "\(dir)/b.qkv", format: .qkv)
        let (a, b) = (try QKVFile(path: "\(dir)/a.qkv"), try QKVFile(path: "\(dir)/b.qkv"))
        XCTAssertEqual(a.entries, b.entries, "same tensors, same checksums")
    }

    func testExportThenImport_givesBackEveryCanonicalTensor() throws {
        let dir = try scratchDirectory()
        for name in ["bert-tiny.h5", "gpt2-tiny.h5", "llama-tiny.h5", "llama-tiny-bf16.h5"] {
            try Converter.convert(input: Paths.fixture(name), output: "\(dir)/\(name).safetensors", format: .safetensors)
            try Converter.convert(input: "\(dir)/\(name).safetensors", output: "\(dir)/\(name).qkv", format: .qkv)
            let original = try ModelFile(try openWeightFile(path: Paths.fixture(name)))
            let back = try ModelFile(try openWeightFile(path: "\(dir)/\(name).qkv"))
            XCTAssertEqual(original.config, back.config, name)
            for info in original.orderedTensors {
                XCTAssertTrue(try original.file.tensor(info.name).hasSameBytes(as: try back.file.tensor(info.name)), "\(name) \(info.name)")
            }
        }
    }

    func testUnknownArchitecture_namesWhatItFound() throws {
        let dir = try scratchDirectory()
        let source = Paths.root.appendingPathComponent("Fixtures/hf/bert-tiny")
        for file in ["model.safetensors"] {
            try FileManager.default.copyItem(atPath: source.appendingPathComponent(file).path, toPath: "\(dir)/\(file)")
        }
        try Data(#"{"model_type": "deberta-v2"}"#.utf8).write(to: URL(fileURLWithPath: "\(dir)/config.json"))
        XCTAssertThrowsError(try openWeightFile(path: dir)) { error in
            guard case let ImportError.unknownArchitecture(file, modelType, tensors)? = error as? ImportError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "\(dir)/config.json")
            XCTAssertEqual(modelType, "deberta-v2")
            XCTAssertTrue(tensors.contains("embeddings.word_embeddings.weight"))
        }
        let (raw, problem) = try openForInspection(path: dir)
        XCTAssertNotNil(problem)
        XCTAssertTrue(raw.tensors.contains { $0.name == "encoder.layer.0.attention.self.query.weight" })
    }

    func testStrayTensorInACheckpoint_isAnErrorNotASilentDrop() throws {
        let dir = try scratchDirectory()
        let source = Paths.root.appendingPathComponent("Fixtures/hf/llama-tiny")
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(atPath: source.appendingPathComponent(file).path, toPath: "\(dir)/\(file)")
        }
        // Append one tensor the LLaMA map does not know, through our own writer's JSON, with correct tiling.
        let original = try SafetensorsFile(path: "\(dir)/model.safetensors")
        var header: [(key: String, value: JSONValue)] = [("__metadata__", .object([("format", .string("pt"))]))]
        var data: [UInt8] = []
        for entry in original.entries {
            let view = try original.tensor(entry.info.name)
            header.append((entry.info.name, .object([("dtype", .string(entry.dtypeName)), ("shape", .array(entry.info.shape.map { .number("\($0)") })),
                                                     ("data_offsets", .array([.number("\(data.count)"), .number("\(data.count + view.bytes.count)")]))])))
            view.withUnsafeBytes { data += $0 }
        }
        header.append(("model.layers.0.self_attn.q_norm.weight", .object([("dtype", .string("F32")), ("shape", .array([.number("8")])),
                                                                          ("data_offsets", .array([.number("\(data.count)"), .number("\(data.count + 32)")]))])))
        data += [UInt8](repeating: 0, count: 32)
        let text = Array(JSONValue.object(header).text.utf8)
        var file = withUnsafeBytes(of: UInt64(text.count).littleEndian) { Array($0) } + text + data
        try writeBytes(file, to: "\(dir)/model.safetensors")
        assertThrows(ImportError.unmappedTensors(file: dir, tensors: ["model.layers.0.self_attn.q_norm.weight"])) { _ = try openWeightFile(path: dir) }
        file.removeAll()
    }
}
