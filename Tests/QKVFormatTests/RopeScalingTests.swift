import Foundation
import XCTest
@testable import QKVFormat

/// YaRN and LongRoPE in the forms real checkpoints state them, against the tiny models of
/// Fixtures/reference/archs (whose logits ArchitectureReferenceTests checks against transformers), and the
/// RoPE scalings qkv refuses, named.
final class RopeScalingTests: XCTestCase {
    static let archs = Paths.root.appendingPathComponent("Fixtures/reference/archs").path

    func configJSON(_ folder: String) throws -> JSONValue {
        try JSONParser.parse(readBytes("\(Self.archs)/\(folder)/config.json"))
    }

    /// `json` with `rope_parameters` taken out and `members` set (replacing any of the same name).
    func edited(_ json: JSONValue, _ members: [(String, JSONValue)]) throws -> JSONValue {
        var object = try XCTUnwrap(json.objectValue).filter { $0.key != "rope_parameters" && !members.map(\.0).contains($0.key) }
        object += members.map { (key: $0.0, value: $0.1) }
        return .object(object)
    }

    func testYarn_asQwen25StatesIt_isTheFixturesYarn() throws {
        // Qwen2.5's model card: `"rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}`.
        let json = try configJSON("qwen2-yarn")
        let qwen25 = try edited(json, [("rope_theta", .double(10_000)), ("rope_scaling", .object([
            ("factor", .double(4)), ("original_max_position_embeddings", .int(32)), ("type", .string("yarn"))]))])
        let expected = try Qwen2.config(hf: json, file: "config.json")
        XCTAssertEqual(try Qwen2.config(hf: qwen25, file: "config.json"), expected)
        XCTAssertNotEqual(expected.rope?.attentionFactor, 1)
        XCTAssertNotNil(expected.rope?.frequencyFactors)
    }

    func testLongRope_asPhi35StatesIt_isTheFixturesLongRope() throws {
        // Phi-3.5-mini: the factor lists in `rope_scaling` (`type: longrope`), the original context beside it.
        let json = try configJSON("phi3-longrope")
        let parameters = try XCTUnwrap(json["rope_parameters"])
        let phi35 = try edited(json, [("rope_theta", .double(10_000)), ("original_max_position_embeddings", .int(32)), ("rope_scaling", .object([
            ("long_factor", try XCTUnwrap(parameters["long_factor"])), ("short_factor", try XCTUnwrap(parameters["short_factor"])),
            ("type", .string("longrope"))]))])
        let expected = try Phi3.config(hf: json, file: "config.json")
        XCTAssertEqual(try Phi3.config(hf: phi35, file: "config.json"), expected)
        XCTAssertEqual(expected.rope?.originalContext, 32)
        XCTAssertNotNil(expected.rope?.longFrequencyFactors)
    }

    func testLongRope_originalContextBesideRopeScalingWins() throws {
        // transformers prefers config.json's own `original_max_position_embeddings` (standardize_rope_params).
        let json = try configJSON("phi3-longrope")
        let parameters = try XCTUnwrap(json["rope_parameters"]?.objectValue)
        let moved = try edited(json, [("original_max_position_embeddings", .int(64)),
                                      ("rope_parameters", .object(parameters.filter { $0.key != "original_max_position_embeddings" } + [("original_max_position_embeddings", .int(32))]))])
        XCTAssertEqual(try Phi3.config(hf: moved, file: "config.json").rope?.originalContext, 64)
    }

    func testUnknownRopeType_isRefusedWithItsName() throws {
        let json = try edited(try configJSON("qwen2"), [("rope_scaling", .object([("type", .string("dynamic")), ("factor", .double(2))]))])
        assertThrows(ImportError.configField(file: "config.json", field: "rope_scaling", reason: "has rope_type 'dynamic', which qkv does not compute")) {
            _ = try Qwen2.config(hf: json, file: "config.json")
        }
    }

    func testLongRopeFactorsOfWrongLength_areRefused() throws {
        let json = try configJSON("phi3-longrope")
        let parameters = try XCTUnwrap(json["rope_parameters"]?.objectValue)
        let short = try edited(json, [("rope_parameters", .object(parameters.filter { $0.key != "short_factor" } + [("short_factor", .array([.double(1), .double(2)]))]))])
        assertThrows(ImportError.configField(file: "config.json", field: "rope_parameters.short_factor", reason: "must list 8 numbers (one per rotated pair)")) {
            _ = try Phi3.config(hf: short, file: "config.json")
        }
    }

    // MARK: GGUF

    /// A copy of the fixture GGUF `folder/model.gguf` with `change` applied to its keys.
    func ggufCopy(_ folder: String, _ change: (inout [(key: String, value: GGUFValue)]) -> Void) throws -> String {
        let source = try GGUFFile(path: "\(Self.archs)/\(folder)/model.gguf")
        var keys = source.metadata
        change(&keys)
        let path = try scratchDirectory() + "/model.gguf"
        let writer = try GGUFWriter(target: path, metadata: keys, tensors: source.tensorInfos.map { .init(name: $0.name, type: $0.type, dims: $0.dims) })
        for info in source.tensorInfos { try source.tensor(info.name).withUnsafeBytes { try writer.append(name: info.name, bytes: $0) } }
        try writer.finish()
        return path
    }

    func testGGUFYarnWithDeepSeeksLogMultiplier_isRefused() throws {
        let path = try ggufCopy("qwen2-yarn") { $0.append(("qwen2.rope.scaling.yarn_log_multiplier", .float32(0.1))) }
        assertThrows(ImportError.configField(file: path, field: "qwen2.rope.scaling.yarn_log_multiplier", reason: "is set (DeepSeek's mscale), which qkv does not compute")) {
            _ = try openWeightFile(path: path)
        }
    }

    func testGGUFUnknownScalingType_isRefusedWithItsName() throws {
        let path = try ggufCopy("qwen2-yarn") { keys in
            if let i = keys.firstIndex(where: { $0.key == "qwen2.rope.scaling.type" }) { keys[i].value = .string("longrope") }
        }
        assertThrows(ImportError.configField(file: path, field: "qwen2.rope.scaling.type", reason: "is 'longrope'; qkv reads none, linear and yarn here")) {
            _ = try openWeightFile(path: path)
        }
    }

    func testGGUFYarnBetas_changeTheDivisors() throws {
        // The beta keys the converter copies from config.json are read (transformers' meaning).
        let plain = try openWeightFile(path: "\(Self.archs)/qwen2-yarn/model.gguf")
        let path = try ggufCopy("qwen2-yarn") { $0.append(("qwen2.rope.scaling.yarn_beta_slow", .float32(0.25))) }
        let changed = try openWeightFile(path: path)
        let a = try ModelConfig(metadata: plain.metadata, file: "a"), b = try ModelConfig(metadata: changed.metadata, file: "b")
        XCTAssertNotEqual(a.rope?.frequencyFactors, b.rope?.frequencyFactors)
        XCTAssertEqual(a.rope?.attentionFactor, b.rope?.attentionFactor)
    }

    /// A copy of the fixture folder `folder` whose config.json's `rope_parameters` has `members` set.
    func folderCopy(_ folder: String, _ members: [(String, JSONValue)]) throws -> String {
        let dir = try scratchDirectory() + "/" + folder
        try FileManager.default.copyItem(atPath: "\(Self.archs)/\(folder)", toPath: dir)
        let json = try configJSON(folder)
        let parameters = try XCTUnwrap(json["rope_parameters"]?.objectValue).filter { !members.map(\.0).contains($0.key) }
        let changed = try edited(json, [("rope_parameters", .object(parameters + members.map { (key: $0.0, value: $0.1) }))])
        try Data(changed.text.utf8).write(to: URL(fileURLWithPath: "\(dir)/config.json"))
        return dir
    }

    func testYarnWithMscales_reachesGGUFAsItsAttentionFactor() throws {
        // DeepSeek-style mscale / mscale_all_dim: an attention factor llama.cpp's keys state only as
        // yarn_attn_factor, which the export writes so that the GGUF reads back with it.
        let folder = try folderCopy("qwen2-yarn", [("mscale", .double(0.707)), ("mscale_all_dim", .double(1))])
        let dir = try scratchDirectory()
        try Converter.convert(input: folder, output: "\(dir)/m.gguf", format: .gguf, options: WriteOptions())
        let hf = try ModelConfig(metadata: try openWeightFile(path: folder).metadata, file: "hf")
        // From llama.cpp's keys, not from the canonical config qkv also embeds (`qkv.metadata`).
        let gguf = try Qwen2.config(gguf: try GGUFFile(path: "\(dir)/m.gguf"))
        XCTAssertNotEqual(hf.rope?.attentionFactor, RopeScaling.yarnMscale(4, 1))
        XCTAssertEqual(gguf.rope?.attentionFactor, hf.rope.map { Double(Float($0.attentionFactor)) })
        XCTAssertEqual(gguf.rope?.frequencyFactors, hf.rope?.frequencyFactors)
    }

    func testYarnWithoutTruncation_isRefusedForGGUF() throws {
        let folder = try folderCopy("qwen2-yarn", [("truncate", .bool(false))])
        let dir = try scratchDirectory()
        XCTAssertThrowsError(try Converter.convert(input: folder, output: "\(dir)/m.gguf", format: .gguf, options: WriteOptions())) { error in
            guard case ConversionError.unsupportedTarget(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "its YaRN has truncate: false, and llama.cpp always floors and ceils the ramp's bounds")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/m.gguf"))
    }

    /// A GGUF's YaRN and LongRoPE go to config.json, which states the same steps when read back.
    func testGGUFScalings_reachConfigJSON() throws {
        for folder in ["qwen2-yarn", "phi3-longrope"] {
            let dir = try scratchDirectory()
            try Converter.convert(input: "\(Self.archs)/\(folder)/model.gguf", output: "\(dir)/m.qkv", format: .qkv, options: WriteOptions())
            try Converter.convert(input: "\(dir)/m.qkv", output: "\(dir)/hf/", format: .safetensors, options: WriteOptions())
            let gguf = try ModelConfig(metadata: try openWeightFile(path: "\(dir)/m.qkv").metadata, file: "m.qkv")
            let hf = try ModelConfig(metadata: try openWeightFile(path: "\(dir)/hf").metadata, file: "hf")
            XCTAssertEqual(hf.rope, gguf.rope, folder)
        }
    }
}
