import Foundation
import XCTest
@testable import QKVFormat

/// sentence-transformers' Dense modules and prompts (Specs/schema.md, "Sentence vectors"): imported from
/// the folders tools/make_st_modules_references.py made, and kept by every container qkv writes.
final class SentenceTransformerModuleTests: XCTestCase {
    static let folder = Paths.root.appendingPathComponent("Fixtures/st-modules/st-dense").path
    static let legacy = Paths.root.appendingPathComponent("Fixtures/st-modules/st-dense-legacy").path

    func testDenseFolder_importsTheModulesInOrder() throws {
        let model = try ModelFile(try openWeightFile(path: Self.folder))
        XCTAssertEqual(model.config.dense, [.init(outputs: 24, activation: .tanh, bias: true), .init(outputs: 16, activation: .identity, bias: false)])
        XCTAssertEqual(model.config.sentenceDimension, 16)
        XCTAssertTrue(model.config.normalize)
        XCTAssertEqual(model.file.tensors.filter { $0.role == .dense }.map(\.name), ["dense/0/weight", "dense/0/bias", "dense/1/weight"])
        XCTAssertEqual(model.tokenizer?.defaultPromptName, "query")
        XCTAssertEqual(model.tokenizer?.prompts.first { $0.name == "query" }?.text, "query: ")
        XCTAssertEqual(model.tokenizer?.options["tokenizer.max_length"], .int(12))   // model_max_length (sentence-transformers 5+)
    }

    func testLegacyFolder_readsPyTorchDenseWeightsAndOldKeys() throws {
        let model = try ModelFile(try openWeightFile(path: Self.legacy))
        XCTAssertEqual(model.config.pooling, .cls)
        XCTAssertEqual(model.config.dense.map(\.activation), [.relu, .geluErf])
        XCTAssertEqual(model.tokenizer?.options["tokenizer.max_length"], .int(10))   // sentence_bert_config.json
        XCTAssertNil(model.tokenizer?.defaultPromptName)
    }

    func testRoundTrips_keepDenseTensorsConfigAndPrompts() throws {
        let dir = try scratchDirectory()
        for (name, source) in [("dense", Self.folder), ("legacy", Self.legacy)] {
            try assertRoundTripsThroughEveryContainer(source, in: dir, name: name) { $0.role == .dense }
        }
    }

    func testDenseKeys_mustComeTogetherWithOneEntryPerModule() throws {
        var metadata = try openWeightFile(path: Paths.fixture("bert-tiny.h5")).metadata
        metadata["config.dense_dims"] = .int32Array([24, 16])
        metadata["config.dense_activations"] = .stringArray(["tanh"])
        metadata["config.dense_bias"] = .int32Array([1, 0])
        assertThrows(ModelError.invalidValue(file: "m", key: "config.dense_activations", value: "1 entries",
                                             reason: "must have as many entries as config.dense_dims (2)")) {
            _ = try ModelConfig(metadata: metadata, file: "m")
        }
        metadata["config.dense_activations"] = .stringArray(["tanh", "softplus"])
        assertThrows(ModelError.invalidValue(file: "m", key: "config.dense_activations", value: "\"softplus\" at index 1",
                                             reason: "expected one of identity, tanh, relu, gelu_erf, sigmoid, silu")) {
            _ = try ModelConfig(metadata: metadata, file: "m")
        }
        metadata["config.dense_activations"] = nil
        assertThrows(ModelError.missingKey(file: "m", key: "config.dense_activations")) { _ = try ModelConfig(metadata: metadata, file: "m") }
    }

    func testDefaultPromptName_mustBeOneOfThePrompts() throws {
        var metadata = try openWeightFile(path: Self.folder).metadata
        metadata["tokenizer.default_prompt_name"] = .string("passage")
        let config = try ModelConfig(metadata: metadata, file: "m")
        XCTAssertThrowsError(try TokenizerData(metadata: metadata, config: config, file: "m")) { error in
            guard case ModelError.invalidValue(_, "tokenizer.default_prompt_name", "\"passage\"", _) = error else { return XCTFail("\(error)") }
        }
    }
}
