import Foundation

/// One architecture's checkpoints, both ways: how its Hugging Face `config.json` and GGUF keys become the
/// schema's config, which of its tensors each canonical tensor comes from (and how), and what is written
/// back. An architecture is one file in this folder plus a line in `Architectures.all`
/// (Specs/architectures.md, "Adding an architecture").
///
/// Only the maps live here, never the forward pass: a converted file describes its computation with
/// config keys, so the runtime runs it without knowing where it came from.
protocol Architecture: SendableMetatype {
    /// The name in messages and in Specs/architectures.md.
    static var name: String { get }
    /// Hugging Face `model_type` values this file maps.
    static var hfModelTypes: [String] { get }
    /// GGUF `general.architecture` values this file maps; the first is written on export.
    static var ggufArchitectures: [String] { get }
    /// Whether this architecture's checkpoints can hold a model of `config` (export picks the first
    /// architecture of `Architectures.all` that can).
    static func canHold(_ config: ModelConfig) -> Bool

    /// The config from Hugging Face's `config.json`.
    static func config(hf json: JSONValue, file: String) throws -> ModelConfig
    /// Canonical tensors to Hugging Face names (after prefix removal) and the transform between them.
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap
    /// The `config.json` members transformers needs to load an export (`torch_dtype` and special tokens
    /// are added by the writer).
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)]

    /// The config from a GGUF file's `<arch>.*` keys and tensor shapes.
    static func config(gguf file: GGUFFile) throws -> ModelConfig
    /// The GGUF tensor canonical tensor `name` comes from, and the transform (nil: GGUF has no such tensor).
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)?
    /// llama.cpp's `<arch>.*` keys for `config`, in the order its converter writes them (tokenizer keys are
    /// the writer's).
    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)]
    /// Why llama.cpp's form of this architecture cannot hold `config` (it fixes what the schema leaves
    /// free), or nil.
    static func ggufProblem(_ config: ModelConfig) -> String?
    /// Norm weights in this architecture's Hugging Face checkpoints are `w` of `offset + w` (Gemma: 1).
    static var hfNormWeightOffset: Double { get }
    /// GGUF tensors that hold config rather than weights (llama.cpp's `rope_freqs`), with their values for
    /// an export; the import reads them in `config(gguf:)`.
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])]
    /// The names of those tensors, which the import claims.
    static var ggufConfigTensorNames: [String] { get }
    /// The `<arch>.rope.scaling.*` keys of `config`'s RoPE scaling for an export to `target` (YaRN's
    /// parameters come from the `provenance.hf_rope_scaling` in `metadata`); a scaling llama.cpp's keys
    /// cannot state is an error.
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)]
}

/// What most architectures have: no norm offset, no config tensors, no RoPE scaling keys of their own
/// making, and no window in GGUF.
extension Architecture {
    static var hfNormWeightOffset: Double { 0 }
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])] { [] }
    static var ggufConfigTensorNames: [String] { [] }
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)] { [] }
    static func ggufProblem(_ config: ModelConfig) -> String? {
        config.slidingWindow > 0 && config.slidingWindow < config.maxPositions ? "GGUF's \(ggufArchitectures.first ?? name) has no sliding window" : nil
    }
}

/// The registry of architectures.
enum Architectures {
    /// Every architecture qkv maps. Order matters for export: the first that can hold a config writes it,
    /// so the more specific come first.
    static let all: [any Architecture.Type] = [Gemma3.self, Gemma2.self, Qwen3.self, Qwen2.self, Llama.self, Mistral.self, Phi3.self, GPT2.self, XLMRoberta.self, Bert.self]

    /// The architecture of a Hugging Face `model_type`.
    static func forHF(modelType: String) -> (any Architecture.Type)? {
        all.first { $0.hfModelTypes.contains(modelType) }
    }

    /// The architecture of a GGUF `general.architecture`.
    static func forGGUF(_ name: String) -> (any Architecture.Type)? {
        all.first { $0.ggufArchitectures.contains(name) }
    }

    /// The architecture an export of `config` is written as: the one it was imported from
    /// (`provenance.architecture`) when that one can hold it, else the first that can (Phi-3 and Mistral
    /// compute the same, so only the record of the source tells their checkpoints apart).
    static func forExport(_ config: ModelConfig, metadata: Metadata? = nil) -> (any Architecture.Type)? {
        if case .string(let name)? = metadata?[provenanceKey], let source = all.first(where: { $0.name == name }), source.canHold(config) {
            return source
        }
        return all.first { $0.canHold(config) }
    }

    /// `arch`'s Hugging Face map for `config`, its W_O row turned for the stored layout: the architecture
    /// files describe W_O as per-head slabs; stored as rows it is Hugging Face's `[out, in]` already.
    static func hfMap(_ arch: any Architecture.Type, _ config: ModelConfig) -> ArchitectureMap {
        var map = arch.hfMap(config)
        if config.attentionOutputLayout == .rows {
            for i in map.rows.indices where map.rows[i].canonical == "layers/{i}/\(TensorRole.attentionOutput.path)/weight" {
                map.rows[i].transform = map.rows[i].transform.turnedForRowLayout
            }
        }
        return map
    }

    /// `arch`'s GGUF tensor for canonical `name`, W_O's transform turned for the stored layout (GGUF's
    /// `attn_output` is `[D, H·d]`, which is the rows layout as it is).
    static func ggufSource(_ arch: any Architecture.Type, for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        guard var found = arch.ggufSource(for: name, config: config) else { return nil }
        if config.attentionOutputLayout == .rows, name.hasPrefix("layers/"), name.hasSuffix("/" + TensorRole.attentionOutput.path + "/weight") {
            found.1 = found.1.turnedForRowLayout
        }
        return found
    }

    /// The metadata key importers record the source architecture under.
    static let provenanceKey = "provenance.architecture"
}

/// The computation steps a config uses beyond a plain pre-norm decoder: what an architecture checks to
/// know whether its checkpoints can hold a model.
struct ConfigSteps: OptionSet, Sendable {
    let rawValue: Int
    static let qkvBias = ConfigSteps(rawValue: 1 << 0)
    static let outputBias = ConfigSteps(rawValue: 1 << 1)
    static let mlpBias = ConfigSteps(rawValue: 1 << 2)
    static let qkNorm = ConfigSteps(rawValue: 1 << 3)
    static let normWeightOffset = ConfigSteps(rawValue: 1 << 4)
    static let postNorms = ConfigSteps(rawValue: 1 << 5)
    static let embeddingScale = ConfigSteps(rawValue: 1 << 6)
    static let attentionScale = ConfigSteps(rawValue: 1 << 7)
    static let softcaps = ConfigSteps(rawValue: 1 << 8)
    static let slidingWindow = ConfigSteps(rawValue: 1 << 9)
    static let slidingRopeBase = ConfigSteps(rawValue: 1 << 10)
    static let partialRope = ConfigSteps(rawValue: 1 << 11)
    static let ropeFactors = ConfigSteps(rawValue: 1 << 12)
    /// A gated MLP whose activation is a GELU (GeGLU), not SiLU.
    static let gelu = ConfigSteps(rawValue: 1 << 13)
    /// A factor on RoPE's cos and sin (YaRN, LongRoPE).
    static let ropeAttentionFactor = ConfigSteps(rawValue: 1 << 14)
    /// LongRoPE's second set of divisors for long sessions.
    static let longRope = ConfigSteps(rawValue: 1 << 15)
    /// The RoPE scalings of transformers' `rope_scaling`: divisors, attention factor, long divisors.
    static let ropeScaling: ConfigSteps = [.ropeFactors, .ropeAttentionFactor, .longRope]
}

extension ModelConfig {
    var steps: ConfigSteps {
        var steps: ConfigSteps = []
        if qkvBias || attentionBias { steps.insert(.qkvBias) }
        if attentionBias { steps.insert(.outputBias) }
        if mlpBias { steps.insert(.mlpBias) }
        if qkNorm { steps.insert(.qkNorm) }
        if normWeightOffset != 0 { steps.insert(.normWeightOffset) }
        if postNorms { steps.insert(.postNorms) }
        if embeddingScale != 1 { steps.insert(.embeddingScale) }
        if attentionScale != nil { steps.insert(.attentionScale) }
        if attentionSoftcap != 0 || finalSoftcap != 0 { steps.insert(.softcaps) }
        if slidingWindow != 0 { steps.insert(.slidingWindow) }
        if rope?.slidingTheta != nil { steps.insert(.slidingRopeBase) }
        if rope?.dimensions != nil { steps.insert(.partialRope) }
        if rope?.frequencyFactors != nil { steps.insert(.ropeFactors) }
        if let factor = rope?.attentionFactor, factor != 1 { steps.insert(.ropeAttentionFactor) }
        if rope?.longFrequencyFactors != nil { steps.insert(.longRope) }
        if gatedMLP && activation != .silu { steps.insert(.gelu) }
        return steps
    }

    /// Whether the config uses a step beyond biases: what BERT and GPT-2 checkpoints cannot hold.
    var usesNewerSteps: Bool { !steps.subtracting([.qkvBias, .outputBias, .mlpBias]).isEmpty }

    /// A RoPE decoder with a SwiGLU MLP whose steps are among `allowed` and include `required`.
    func isGatedRopeDecoder(allowed: ConfigSteps, required: ConfigSteps = []) -> Bool {
        family == .llama && gatedMLP && positionEncoding == .rope && norm == .rmsnorm
            && steps.isSubset(of: allowed.union(required)) && steps.isSuperset(of: required)
    }
}

/// Hugging Face's `rope_scaling` / `rope_parameters` as the schema's RoPE steps: per-pair frequency divisors
/// (`config.rope_freq_factors`, llama.cpp's `rope_freqs`), LongRoPE's long divisors and the context that
/// chooses them (`config.rope_freq_factors_long`, `config.rope_original_context`), and the factor on cos
/// and sin (`config.rope_attention_factor`), each computed as transformers' `_compute_*_parameters`.
enum RopeScaling {
    /// The schema's RoPE steps of one scaling; all absent (nil, 1) for plain RoPE.
    struct Steps: Equatable {
        var factors: [Float]?
        var longFactors: [Float]?
        var originalContext: Int?
        var attentionFactor: Double = 1

        init(factors: [Float]? = nil, longFactors: [Float]? = nil, originalContext: Int? = nil, attentionFactor: Double = 1) {
            self.factors = factors
            self.longFactors = longFactors
            self.originalContext = originalContext
            self.attentionFactor = attentionFactor
        }

        /// The steps a config's RoPE holds.
        init(_ rope: ModelConfig.Rope?) {
            self.init(factors: rope?.frequencyFactors, longFactors: rope?.longFrequencyFactors, originalContext: rope?.originalContext,
                      attentionFactor: rope?.attentionFactor ?? 1)
        }

        /// Puts the steps into `rope`.
        func apply(to rope: inout ModelConfig.Rope) {
            rope.frequencyFactors = factors
            rope.longFrequencyFactors = longFactors
            rope.originalContext = originalContext
            rope.attentionFactor = attentionFactor
        }
    }

    /// The steps of the scaling object `json` (nil or null: plain RoPE) of config.json `model` (which gives
    /// `max_position_embeddings` and, for Phi-3, `original_max_position_embeddings` beside the object); a
    /// type qkv does not compute is an error naming it, never ignored.
    static func steps(_ json: JSONValue?, field: String, file: String, theta: Double, dims: Int, model: JSONValue?) throws -> Steps {
        guard let json, json != .null else { return Steps() }
        let fields = HFConfigReader(json: json, file: file)
        let top = model.map { HFConfigReader(json: $0, file: file) }
        let type = try fields.optionalString("rope_type") ?? fields.optionalString("type") ?? "default"
        func bad(_ name: String, _ reason: String) -> ImportError { .configField(file: file, field: field + "." + name, reason: reason) }
        /// The pre-training context: config.json's own `original_max_position_embeddings` first (transformers
        /// gives it priority: Phi-3 keeps it there), then the object's, then `max_position_embeddings`.
        func originalContext() throws -> Int {
            let value = try top?.optionalInt("original_max_position_embeddings") ?? fields.optionalInt("original_max_position_embeddings")
                ?? top?.optionalInt("max_position_embeddings")
            guard let value else { throw bad("original_max_position_embeddings", "is required but missing") }
            guard value > 0 else { throw bad("original_max_position_embeddings", "is \(value); expected a positive number") }
            return value
        }
        switch type {
        case "default":
            return Steps()
        case "linear":
            let factor = try fields.double("factor", default: 1)
            guard factor.isFinite && factor > 0 else { throw bad("factor", "must be positive") }
            return Steps(factors: factor == 1 ? nil : Array(repeating: Float(factor), count: dims / 2))
        case "llama3":
            // transformers' `_compute_llama3_parameters` as a divisor per pair: long wavelengths slowed by
            // `factor`, short ones kept, the band between blended.
            let factor = try fields.double("factor", default: 8), low = try fields.double("low_freq_factor", default: 1)
            let high = try fields.double("high_freq_factor", default: 4)
            let original = Double(try fields.int("original_max_position_embeddings", default: 8192))
            guard factor > 0, high > low, low > 0 else {
                throw ImportError.configField(file: file, field: field, reason: "needs factor > 0 and high_freq_factor > low_freq_factor > 0")
            }
            // In f32 throughout, as llama.cpp's converter computes its `rope_freqs` (torch float32 tensors),
            // so a GGUF export carries the same bits.
            let lowWavelength = Float(original / low), highWavelength = Float(original / high)
            return Steps(factors: (0..<(dims / 2)).map { i in
                let frequency = 1 / powf(Float(theta), Float(2 * i) / Float(dims))
                let wavelength = Float(2 * Double.pi) / frequency
                if wavelength < highWavelength { return 1 }
                if wavelength > lowWavelength { return Float(factor) }
                let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
                return 1 / ((1 - smooth) / Float(factor) + smooth)
            })
        case "yarn":
            let original = try originalContext()
            let factor = try fields.optionalDouble("factor") ?? Double(try top?.int("max_position_embeddings") ?? original) / Double(original)
            guard factor.isFinite && factor > 0 else { throw bad("factor", "is \(factor); expected a positive number") }
            let betaFast = try fields.optionalDouble("beta_fast").flatMap { $0 == 0 ? nil : $0 } ?? 32
            let betaSlow = try fields.optionalDouble("beta_slow").flatMap { $0 == 0 ? nil : $0 } ?? 1
            guard betaFast.isFinite, betaSlow.isFinite, betaFast > 0, betaSlow > 0 else { throw bad("beta_fast", "and beta_slow must be positive") }
            let truncate = try fields.bool("truncate", default: true)
            var attention = try fields.optionalDouble("attention_factor")
            if attention == nil, let mscale = try fields.optionalDouble("mscale"), let all = try fields.optionalDouble("mscale_all_dim"), mscale != 0, all != 0 {
                attention = yarnMscale(factor, mscale) / yarnMscale(factor, all)
            }
            let attentionFactor = attention ?? yarnMscale(factor, 1)
            guard attentionFactor.isFinite && attentionFactor > 0 else { throw bad("attention_factor", "is \(attentionFactor); expected a positive number") }
            return Steps(factors: yarnFactors(theta: theta, dims: dims, factor: factor, original: original, betaFast: betaFast, betaSlow: betaSlow, truncate: truncate),
                         attentionFactor: attentionFactor)
        case "longrope", "su":
            let original = try originalContext()
            func list(_ name: String) throws -> [Float] {
                guard let items = json[name]?.arrayValue else { throw bad(name, "is required: a list of \(dims / 2) numbers") }
                let values = items.compactMap(\.doubleValue)
                guard values.count == items.count, values.count == dims / 2 else { throw bad(name, "must list \(dims / 2) numbers (one per rotated pair)") }
                guard values.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw bad(name, "must be positive numbers") }
                return values.map { Float($0) }
            }
            let short = try list("short_factor"), long = try list("long_factor")
            let factor = try fields.optionalDouble("factor") ?? Double(try top?.int("max_position_embeddings") ?? original) / Double(original)
            let attentionFactor = try fields.optionalDouble("attention_factor") ?? longRopeAttentionFactor(factor: factor, original: original)
            guard attentionFactor.isFinite && attentionFactor > 0 else { throw bad("attention_factor", "is \(attentionFactor); expected a positive number") }
            return Steps(factors: short, longFactors: long, originalContext: original, attentionFactor: attentionFactor)
        default:
            throw ImportError.configField(file: file, field: field, reason: "has rope_type '\(type)', which qkv does not compute")
        }
    }

    /// YaRN's `mscale` (transformers' `yarn_get_mscale`): 0.1 · mscale · ln(factor) + 1, or 1 for factor ≤ 1.
    static func yarnMscale(_ factor: Double, _ mscale: Double) -> Double {
        factor <= 1 ? 1 : 0.1 * mscale * log(factor) + 1
    }

    /// LongRoPE's default attention factor: √(1 + ln(factor) / ln(original)), or 1 for factor ≤ 1.
    static func longRopeAttentionFactor(factor: Double, original: Int) -> Double {
        factor <= 1 ? 1 : (1 + log(factor) / log(Double(original))).squareRoot()
    }

    /// YaRN's inverse frequencies as divisors of plain RoPE's: pair i blends interpolation (divided by
    /// `factor`) and extrapolation (kept) by a ramp that is 1 (extrapolate) below the dimension where a
    /// wavelength turns `betaFast` times in the original context and 0 above the one where it turns
    /// `betaSlow` times (transformers' `_compute_yarn_parameters`, ggml's `rope_yarn_ramp` with
    /// `ggml_rope_yarn_corr_dims`: the same bounds, floor and ceil with `truncate`). Blending the inverse
    /// frequencies is the divisor 1 / ((1 − e) / factor + e), e the ramp.
    static func yarnFactors(theta: Double, dims: Int, factor: Double, original: Int, betaFast: Double, betaSlow: Double, truncate: Bool) -> [Float] {
        func correctionDim(_ rotations: Double) -> Double {
            Double(dims) * log(Double(original) / (rotations * 2 * Double.pi)) / (2 * log(theta))
        }
        var low = correctionDim(betaFast), high = correctionDim(betaSlow)
        if truncate { low = low.rounded(.down); high = high.rounded(.up) }
        low = max(low, 0)
        high = min(high, Double(dims - 1))
        if low == high { high += 0.001 }
        return (0..<(dims / 2)).map { i in
            let ramp = min(max((Float(i) - Float(low)) / Float(high - low), 0), 1)
            let extrapolation = 1 - ramp
            return 1 / ((1 - extrapolation) / Float(factor) + extrapolation)
        }
    }
}

extension RopeScaling {
    /// `linear` scaling for config.json when every divisor is the same; nil otherwise (Llama 3's and YaRN's
    /// divisors come from parameters that the divisors alone do not give back: an export takes them from
    /// the `provenance.hf_rope_scaling` its import kept).
    static func linearJSON(_ factors: [Float]) -> JSONValue? {
        guard let first = factors.first, factors.allSatisfy({ $0 == first }) else { return nil }
        return .object([("rope_type", .string("linear")), ("factor", .double(Double(first)))])
    }

    /// LongRoPE's `rope_scaling` for config.json, when the steps are LongRoPE's: every parameter is a step.
    static func longRopeJSON(_ steps: Steps) -> JSONValue? {
        guard let short = steps.factors, let long = steps.longFactors, let original = steps.originalContext else { return nil }
        return .object([
            ("rope_type", .string("longrope")), ("short_factor", .array(short.map { .double(Double($0)) })),
            ("long_factor", .array(long.map { .double(Double($0)) })), ("original_max_position_embeddings", .int(original)),
            ("attention_factor", .double(steps.attentionFactor)),
        ])
    }

    /// YaRN's `rope_scaling` from a GGUF's llama.cpp keys (`<arch>.rope.scaling.type = yarn`), in the form
    /// an import keeps as `provenance.hf_rope_scaling`, so that a config.json export states it; nil for any
    /// other file.
    static func yarnJSON(gguf file: GGUFFile) -> JSONValue? {
        guard let arch = file["general.architecture"]?.stringValue, file["\(arch).rope.scaling.type"]?.stringValue == "yarn",
              let factor = file["\(arch).rope.scaling.factor"]?.floatValue else { return nil }
        let prefix = "\(arch).rope.scaling."
        var members: [(key: String, value: JSONValue)] = [("rope_type", .string("yarn")), ("factor", .double(factor))]
        if let original = (file[prefix + "original_context_length"] ?? file["\(arch).context_length"])?.integerValue {
            members.append(("original_max_position_embeddings", .int(Int(original))))
        }
        for (key, name) in [("yarn_beta_fast", "beta_fast"), ("yarn_beta_slow", "beta_slow")] {
            if let value = file[prefix + key]?.floatValue { members.append((name, .double(value))) }
        }
        if file[prefix + "yarn_attn_factor"] != nil || file[prefix + "attn_factor"] != nil {
            let base = file[prefix + "yarn_attn_factor"]?.floatValue ?? yarnMscale(factor, 1)
            members.append(("attention_factor", .double(base * (file[prefix + "attn_factor"]?.floatValue ?? 1))))
        }
        return .object(members)
    }
}
