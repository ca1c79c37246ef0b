import XCTest
@testable import QKVFormat

/// One test per `ModelError` case: the schema checks of Specs/schema.md on in-memory files.
final class ModelErrorTests: XCTestCase {
    let f = "memory.qkv"

    func problems(_ file: MemoryWeightFile) -> [ModelError] { ModelFile.problems(in: file) }

    func testConformingFile_hasNoProblems() throws {
        let file = conformingFile(tinyLlamaConfig(), tokenizer: TokenizerData(kind: .sentencepieceBPE, tokens: (0..<16).map { "t\($0)" }))
        XCTAssertEqual(problems(file), [])
        let model = try ModelFile(file)
        XCTAssertEqual(model.config, tinyLlamaConfig())
        XCTAssertEqual(model.tokenizer?.tokens.count, 16)
    }

    func testExpectedTensors_followTheConfig() {
        var config = tinyLlamaConfig()
        let names = Set(ModelSchema.expectedTensors(for: config).map(\.name))
        XCTAssertTrue(names.contains("lm_head/weight"))
        XCTAssertTrue(names.contains("layers/0/mlp/gate/weight"))
        XCTAssertFalse(names.contains("embed/position/weight"), "RoPE models have no position table")
        XCTAssertFalse(names.contains("final_norm/bias"), "RMSNorm has no bias")
        XCTAssertEqual(ModelSchema.expectedTensors(for: config).first { $0.name == "layers/0/attn/k/weight" }?.shape, [2, 2, 8])
        config.tiedEmbeddings = true
        XCTAssertFalse(ModelSchema.expectedTensors(for: config).contains { $0.name == "lm_head/weight" })
    }

    func testMissingTensor() {
        let file = conformingFile(tinyLlamaConfig())
        file.tensors.removeAll { $0.name == "layers/0/mlp/down/weight" }
        XCTAssertEqual(problems(file), [.missingTensor(file: f, tensor: "layers/0/mlp/down/weight", expectedShape: [8, 12])])
    }

    func testStrayTensor() {
        let file = conformingFile(tinyLlamaConfig())
        file.tensors.append(TensorInfo(name: "layers/0/attn/extra", role: .attentionQuery, dtype: .f32, shape: [1]))
        XCTAssertEqual(problems(file), [.unexpectedTensor(file: f, tensor: "layers/0/attn/extra")])
    }

    func testLayerBeyondLayerCount_isAStray() {
        let file = conformingFile(tinyLlamaConfig())
        file.tensors.append(TensorInfo(name: "layers/1/attn/q/weight", role: .attentionQuery, dtype: .f32, shape: [4, 2, 8]))
        XCTAssertEqual(problems(file), [.unexpectedTensor(file: f, tensor: "layers/1/attn/q/weight")])
    }

    func testShapeMismatch_kvHeads() {
        let file = conformingFile(tinyLlamaConfig())
        let i = file.tensors.firstIndex { $0.name == "layers/0/attn/k/weight" }!
        file.tensors[i].shape = [4, 2, 8]
        XCTAssertEqual(problems(file), [.shapeMismatch(file: f, tensor: "layers/0/attn/k/weight", expected: [2, 2, 8], found: [4, 2, 8])])
    }

    func testRoleMismatch() {
        let file = conformingFile(tinyLlamaConfig())
        let i = file.tensors.firstIndex { $0.name == "layers/0/attn/q/weight" }!
        file.tensors[i].role = .attentionKey
        XCTAssertEqual(problems(file), [.roleMismatch(file: f, tensor: "layers/0/attn/q/weight", expected: .attentionQuery, found: .attentionKey)])
    }

    func testIntegerModelTensor() {
        let file = conformingFile(tinyLlamaConfig())
        let i = file.tensors.firstIndex { $0.name == "final_norm/weight" }!
        file.tensors[i].dtype = .i32
        XCTAssertEqual(problems(file), [.dtypeNotAllowed(file: f, tensor: "final_norm/weight", dtype: .i32)])
    }

    func testPoolerHalfPresent() {
        var config = ModelConfig(family: .bert, vocabSize: 10, modelDim: 4, layerCount: 1, headCount: 2, keyValueHeadCount: 2,
                                 headDim: 2, ffnDim: 8, maxPositions: 16, norm: .layernorm, normEpsilon: 1e-12,
                                 normPlacement: .post, activation: .geluErf, positionEncoding: .learned)
        config.embeddingNorm = true
        let file = conformingFile(config)
        XCTAssertEqual(problems(file), [], "with the pooler")
        file.tensors.removeAll { $0.name.hasPrefix("pooler/") }
        XCTAssertEqual(problems(file), [], "the pooler is optional")
        file.tensors.append(TensorInfo(name: "pooler/weight", role: .pooler, dtype: .f32, shape: [4, 4]))
        XCTAssertEqual(problems(file), [.missingTensor(file: f, tensor: "pooler/bias", expectedShape: [4])])
    }

    func testMissingConfigKey() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.head_dim"] = nil
        XCTAssertEqual(problems(file), [.missingKey(file: f, key: "config.head_dim")])
    }

    func testConfigKeyOfWrongType() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.head_count"] = .string("4")
        XCTAssertEqual(problems(file), [.wrongKeyType(file: f, key: "config.head_count", expected: "int", found: "string")])
    }

    func testUnknownConfigKey() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.frobnicate"] = .int(1)
        XCTAssertEqual(problems(file), [.unknownKey(file: f, key: "config.frobnicate")])
    }

    func testKeyInUnknownSection() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["weights.x"] = .int(1)
        XCTAssertEqual(problems(file), [.invalidKey(file: f, key: "weights.x", reason: "unknown section 'weights' (expected one of config, tokenizer, provenance, user)")])
    }

    func testKVHeadsThatDoNotDivideHeads() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.kv_head_count"] = .int(3)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.kv_head_count", value: "3", reason: "must divide config.head_count (4)")])
    }

    func testDimensionOutOfRange() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.model_dim"] = .int(0)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.model_dim", value: "0", reason: "must be in 1..<2^31")])
    }

    func testUnknownFamily() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.family"] = .string("mamba")
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.family", value: "\"mamba\"", reason: "expected one of bert, gpt2, llama")])
    }

    func testRopeWithOddHeadDim() {
        var config = tinyLlamaConfig()
        config.headDim = 3
        let file = conformingFile(config)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.head_dim", value: "3", reason: "RoPE needs an even head dimension")])
    }

    func testRopeKeysWithLearnedPositions() {
        let file = conformingFile(tinyLlamaConfig())
        file.metadata["config.position_encoding"] = .string("learned")
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_theta", value: "10000.0", reason: "RoPE keys are not allowed with learned positions")])
    }

    func testTokenizerScoresOfWrongLength() {
        let tokenizer = TokenizerData(kind: .sentencepieceBPE, tokens: ["a", "b", "c"], scores: [0, 1])
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.tokenizerArrayLength(file: f, key: "tokenizer.scores", expected: 3, found: 2)])
    }

    func testSpecialTokenBeyondTokenizer() {
        let tokenizer = TokenizerData(kind: .sentencepieceBPE, tokens: ["a", "b"])
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.tokenIdOutOfRange(file: f, key: "config.eos_token_id", id: 2, tokenCount: 2)])
    }

    func testTokenizerOptionOfWrongType() {
        var tokenizer = TokenizerData(kind: .wordpiece, tokens: (0..<16).map(String.init))
        tokenizer.options["tokenizer.lowercase"] = .string("yes")
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.wrongKeyType(file: f, key: "tokenizer.lowercase", expected: "bool", found: "string")])
    }

    func testUnknownPreTokenizerName() {
        var tokenizer = TokenizerData(kind: .bpe, tokens: (0..<16).map { "t\($0)" })
        tokenizer.options["tokenizer.pre"] = .string("no-such-pre")
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "tokenizer.pre", value: "no-such-pre",
                                                      reason: "not a llama.cpp pre-tokenizer qkv implements (Specs/schema.md lists them)")])
    }

    func testPrefixSchemeOutOfItsChoices() {
        var tokenizer = TokenizerData(kind: .sentencepieceBPE, tokens: (0..<16).map { "t\($0)" })
        tokenizer.options["tokenizer.prefix_scheme"] = .string("sometimes")
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "tokenizer.prefix_scheme", value: "sometimes", reason: "must be one of first, always, prepend")])
    }

    func testPreSplitOfWrongType() {
        var tokenizer = TokenizerData(kind: .bpe, tokens: (0..<16).map { "t\($0)" })
        tokenizer.options["tokenizer.pre_split"] = .string(#"\p{L}+"#)
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.wrongKeyType(file: f, key: "tokenizer.pre_split", expected: "string[]", found: "string")])
    }

    func testStripIDBeyondTokenizer() {
        var tokenizer = TokenizerData(kind: .bpe, tokens: (0..<16).map { "t\($0)" })
        tokenizer.options["tokenizer.rstrip_ids"] = .int32Array([3, 16])
        let file = conformingFile(tinyLlamaConfig(), tokenizer: tokenizer)
        XCTAssertEqual(problems(file), [.tokenIdOutOfRange(file: f, key: "tokenizer.rstrip_ids", id: 16, tokenCount: 16)])
    }

    func testConfigRoundTripsThroughMetadata() throws {
        let config = tinyLlamaConfig()
        var metadata = Metadata()
        for (k, v) in config.metadata { metadata[k] = v }
        XCTAssertEqual(try ModelConfig(metadata: metadata, file: f), config)
    }
}
