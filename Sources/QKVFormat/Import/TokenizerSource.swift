import Foundation

/// The tokenizer of whatever a user points at: a model file in any format qkv reads, a Hugging Face
/// `tokenizer.json`, or a GGUF without tensors (llama.cpp's `ggml-vocab-*.gguf`).
public enum TokenizerSource {
    /// The tokenizer data at `path` and the config that names its special tokens.
    ///
    /// A GGUF without tensors or of an architecture qkv has no map for (its tokenizer is read alone), or
    /// a lone `tokenizer.json`, has no model config; the config returned
    /// then holds only the vocabulary size and the special token ids (its other sizes are 1s).
    /// - Throws: `ImportError.tokenizer` when the file has no tokenizer, and what reading it throws.
    public static func load(path given: String) throws -> (TokenizerData, ModelConfig) {
        let path = try HubCache.resolve(given)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue && path.hasSuffix(".json") {
            return try HFTokenizerImport.standalone(jsonPath: path)
        }
        if exists && !isDirectory.boolValue, try ContainerFormat.detect(path: path) == .gguf {
            let file = try GGUFFile(path: path)
            func tokenizerOnly() throws -> (TokenizerData, ModelConfig) {
                var config = placeholderConfig(family: .llama, vocabSize: 1)
                guard let data = try GGUFMaps.tokenizer(file, config: &config) else {
                    throw ImportError.tokenizer(file: path, reason: "has no tokenizer.ggml.model")
                }
                return (data, withVocabulary(config, data))
            }
            if file.tensorInfos.isEmpty { return try tokenizerOnly() }
            // A model of an architecture qkv cannot run still has a tokenizer qkv can read.
            do {
                _ = try GGUFModel(path: path)
            } catch ImportError.unknownArchitecture {
                return try tokenizerOnly()
            }
        }
        let model = try ModelFile(try openWeightFile(path: path))
        guard let data = model.tokenizer else { throw ImportError.tokenizer(file: path, reason: "holds no tokenizer") }
        return (data, model.config)
    }

    /// A config with every size 1 but the vocabulary and the context (unbounded, so nothing is truncated),
    /// for tokenizers read without a model.
    static func placeholderConfig(family: ModelConfig.Family, vocabSize: Int) -> ModelConfig {
        ModelConfig(family: family, vocabSize: vocabSize, modelDim: 1, layerCount: 1, headCount: 1, keyValueHeadCount: 1,
                    headDim: 1, ffnDim: 1, maxPositions: Int(Int32.max), norm: .layernorm, normEpsilon: 1e-5, normPlacement: .pre,
                    activation: .geluErf, positionEncoding: .learned)
    }

    /// `config` with the family the tokenizer kind implies and room for every token.
    static func withVocabulary(_ config: ModelConfig, _ data: TokenizerData) -> ModelConfig {
        var out = placeholderConfig(family: data.kind == .wordpiece ? .bert : data.kind == .bpe ? .gpt2 : .llama,
                                    vocabSize: data.tokens.count)
        out.specialTokens = config.specialTokens
        return out
    }
}
