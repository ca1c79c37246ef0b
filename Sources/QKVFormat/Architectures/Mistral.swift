/// Mistral (Hugging Face `mistral`): LLaMA with a sliding window on every layer when `sliding_window` is
/// set. llama.cpp's converter writes Mistral as `llama`, whose GGUF has no window: a window that limits
/// what a position sees within the model's context cannot be written to GGUF (`ggufProblem`).
enum Mistral: Architecture {
    static let name = "mistral"
    static let hfModelTypes = ["mistral"]
    static let ggufArchitectures = ["llama"]

    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .silu && config.slidingLayers == nil
            && config.isGatedRopeDecoder(allowed: [.ropeScaling], required: [.slidingWindow])
    }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file)
        config.slidingWindow = try HFConfigReader(json: json, file: file).optionalInt("sliding_window") ?? 0
        return config
    }

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { LlamaStyle.hfMap(config) }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        LlamaStyle.hfConfigMembers(config, architecture: "MistralForCausalLM", modelType: "mistral")
            + [("sliding_window", config.slidingWindow > 0 ? .int(config.slidingWindow) : .null)]
    }

    // A GGUF `llama` is read by `Llama` (which comes first in the registry).
    static func config(gguf file: GGUFFile) throws -> ModelConfig { try Llama.config(gguf: file) }
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? { Llama.ggufSource(for: name, config: config) }
    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] { Llama.ggufKeys(config) }
    static var ggufConfigTensorNames: [String] { Llama.ggufConfigTensorNames }
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])] { Llama.ggufConfigTensors(config) }
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)] {
        try Llama.ggufScalingKeys(config, metadata: metadata, target: target)
    }

    static func ggufProblem(_ config: ModelConfig) -> String? {
        guard config.slidingWindow < config.maxPositions else { return nil }
        return "GGUF's llama architecture has no sliding window (llama.cpp's converter drops Mistral's), so this model's \(config.slidingWindow)-token window cannot be written"
    }
}
