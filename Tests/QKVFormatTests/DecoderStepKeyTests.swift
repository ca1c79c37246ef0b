import XCTest
@testable import QKVFormat

/// The config keys of today's decoders (Specs/schema.md, the second config table): round trips, the
/// tensors they call for, and one test per rule they break.
final class DecoderStepKeyTests: XCTestCase {
    let f = "memory.qkv"

    func problems(_ file: MemoryWeightFile) -> [ModelError] { ModelFile.problems(in: file) }

    /// A Gemma-3-shaped config: every new step on.
    func gemmaLikeConfig() -> ModelConfig {
        var config = tinyLlamaConfig()
        config.layerCount = 3
        config.activation = .geluTanh
        config.qkNorm = true
        config.postNorms = true
        config.normWeightOffset = 1
        config.embeddingScale = Double(Float(8).squareRoot())
        config.attentionScale = 0.25
        config.attentionSoftcap = 50
        config.finalSoftcap = 30
        config.slidingWindow = 4
        config.slidingLayers = [true, true, false]
        config.rope = .init(theta: 1_000_000, layout: .half, slidingTheta: 10_000, frequencyFactors: [8])
        return config
    }

    /// A Phi-3.5-shaped RoPE: LongRoPE's short and long divisors, original context and attention factor.
    func longRopeConfig() -> ModelConfig {
        var config = tinyLlamaConfig()
        config.rope = .init(theta: 10_000, layout: .half, frequencyFactors: [1.5], longFrequencyFactors: [6], originalContext: 16, attentionFactor: 1.2)
        return config
    }

    func testEveryStepRoundTripsThroughMetadata() throws {
        var config = gemmaLikeConfig()
        config.qkvBias = true
        config.rope?.dimensions = 2
        config.rope?.attentionFactor = 1.1
        var metadata = Metadata()
        for (k, v) in config.metadata { metadata[k] = v }
        XCTAssertEqual(try ModelConfig(metadata: metadata, file: f), config)
    }

    func testLongRopeRoundTripsThroughMetadata() throws {
        var metadata = Metadata()
        for (k, v) in longRopeConfig().metadata { metadata[k] = v }
        XCTAssertEqual(try ModelConfig(metadata: metadata, file: f), longRopeConfig())
        XCTAssertEqual(problems(conformingFile(longRopeConfig())), [])
    }

    func testLongRope_sessionLongerThanTheOriginalContextTakesTheLongFactors() throws {
        let rope = try XCTUnwrap(longRopeConfig().rope)
        XCTAssertEqual(rope.frequencyFactors(forCapacity: 16), [1.5])
        XCTAssertEqual(rope.frequencyFactors(forCapacity: 17), [6])
        XCTAssertEqual(try XCTUnwrap(gemmaLikeConfig().rope).frequencyFactors(forCapacity: 1 << 20), [8], "without long factors, always the one set")
    }

    func testDefaults_writeNoNewKeys() {
        // Files of models without the new steps are byte for byte what they were.
        let keys = Set(tinyLlamaConfig().metadata.keys)
        XCTAssertTrue(keys.isDisjoint(with: ModelConfig.stepKeys), "\(keys.intersection(ModelConfig.stepKeys))")
    }

    func testStepTensors_areExpected() {
        let names = Set(ModelSchema.expectedTensors(for: gemmaLikeConfig()).map(\.name))
        for name in ["layers/2/attn/q_norm/weight", "layers/2/attn/k_norm/weight", "layers/2/attn_post_norm/weight", "layers/2/mlp_post_norm/weight"] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertEqual(ModelSchema.expectedTensors(for: gemmaLikeConfig()).first { $0.name == "layers/0/attn/q_norm/weight" }?.shape, [2])
        var config = tinyLlamaConfig()
        config.qkvBias = true
        let biased = Set(ModelSchema.expectedTensors(for: config).map(\.name))
        XCTAssertTrue(biased.isSuperset(of: ["layers/0/attn/q/bias", "layers/0/attn/k/bias", "layers/0/attn/v/bias"]))
        XCTAssertFalse(biased.contains("layers/0/attn/o/bias"), "qkv_bias leaves O without a bias")
    }

    func testConformingStepFile_hasNoProblems() throws {
        XCTAssertEqual(problems(conformingFile(gemmaLikeConfig())), [])
    }

    func testSlidingLayersOfWrongLength() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.sliding_layers"] = .int32Array([1, 0])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.sliding_layers", value: "2 entries", reason: "must have one entry per layer (3)")])
    }

    func testSlidingLayersEntryNotABit() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.sliding_layers"] = .int32Array([1, 2, 0])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.sliding_layers", value: "2", reason: "entries must be 0 or 1")])
    }

    func testSlidingLayersWithoutWindow() {
        var config = gemmaLikeConfig()
        config.rope?.slidingTheta = nil
        let file = conformingFile(config)
        file.metadata["config.sliding_window"] = nil
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.sliding_layers", value: "3 entries", reason: "needs config.sliding_window")])
    }

    func testSlidingRopeBaseWithoutWindow() {
        var config = gemmaLikeConfig()
        config.slidingLayers = nil
        let file = conformingFile(config)
        file.metadata["config.sliding_window"] = nil
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_theta_sliding", value: "10000.0", reason: "needs config.sliding_window")])
    }

    func testRopeDimsOdd() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.rope_dims"] = .int(1)
        XCTAssertEqual(problems(file).first, .invalidValue(file: f, key: "config.rope_dims", value: "1", reason: "must be even and at most config.head_dim (2)"))
    }

    func testRopeFreqFactorsOfWrongCount() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.rope_freq_factors"] = .float32Array([1, 2])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors", value: "2 entries", reason: "must have rope_dims / 2 = 1 entries")])
    }

    func testRopeFreqFactorNotPositive() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.rope_freq_factors"] = .float32Array([0])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors", value: "0.0", reason: "entries must be finite and positive")])
    }

    func testRopeFreqFactorsLongOfWrongCount() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_freq_factors_long"] = .float32Array([1, 2, 3])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors_long", value: "3 entries", reason: "must have rope_dims / 2 = 1 entries")])
    }

    func testRopeFreqFactorLongNotPositive() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_freq_factors_long"] = .float32Array([-2])
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors_long", value: "-2.0", reason: "entries must be finite and positive")])
    }

    func testRopeFreqFactorsLongWithoutShortFactors() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_freq_factors"] = nil
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors_long", value: "1 entries", reason: "needs config.rope_freq_factors (the divisors of shorter sessions)")])
    }

    func testRopeFreqFactorsLongWithoutOriginalContext() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_original_context"] = nil
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_freq_factors_long", value: "1 entries", reason: "needs config.rope_original_context")])
    }

    func testRopeOriginalContextWithoutLongFactors() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_freq_factors_long"] = nil
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_original_context", value: "16", reason: "needs config.rope_freq_factors_long")])
    }

    func testRopeOriginalContextNotPositive() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_original_context"] = .int(0)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_original_context", value: "0", reason: "must be in 1..<2^31")])
    }

    func testRopeAttentionFactorNotPositive() {
        let file = conformingFile(longRopeConfig())
        file.metadata["config.rope_attention_factor"] = .float(0)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_attention_factor", value: "0.0", reason: "must be finite and positive")])
    }

    func testRopeAttentionFactorWithLearnedPositions() {
        var config = tinyLlamaConfig()
        config.family = .gpt2
        config.positionEncoding = .learned
        config.rope = nil
        config.keyValueHeadCount = config.headCount
        config.gatedMLP = false
        config.activation = .geluTanh
        config.norm = .layernorm
        let file = conformingFile(config)
        file.metadata["config.rope_attention_factor"] = .float(1.2)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.rope_attention_factor", value: "1.2", reason: "RoPE keys are not allowed with learned positions")])
    }

    func testNegativeSoftcap() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.attention_softcap"] = .float(-1)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.attention_softcap", value: "-1.0", reason: "must be finite and not negative (0: no soft cap)")])
    }

    func testEmbeddingScaleNotPositive() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.embedding_scale"] = .float(0)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.embedding_scale", value: "0.0", reason: "must be finite and positive")])
    }

    func testNormWeightOffsetNotFinite() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.norm_weight_offset"] = .float(.infinity)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.norm_weight_offset", value: "inf", reason: "must be finite")])
    }

    func testDecoderStepOnAnEncoder() {
        var config = ModelConfig(family: .bert, vocabSize: 16, modelDim: 8, layerCount: 1, headCount: 2, keyValueHeadCount: 2,
                                 headDim: 4, ffnDim: 12, maxPositions: 32, norm: .layernorm, normEpsilon: 1e-12,
                                 normPlacement: .post, activation: .geluErf, positionEncoding: .learned)
        config.qkNorm = true
        let file = conformingFile(config)
        XCTAssertEqual(problems(file), [.invalidValue(file: f, key: "config.qk_norm", value: "set", reason: "is for decoders (gpt2, llama) only")])
    }

    func testSlidingLayersOfWrongType() {
        let file = conformingFile(gemmaLikeConfig())
        file.metadata["config.sliding_layers"] = .string("1,1,0")
        XCTAssertEqual(problems(file), [.wrongKeyType(file: f, key: "config.sliding_layers", expected: "int32[]", found: "string")])
    }
}
