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
                var config = ModelConfig.tokenizerPlaceholder(family: .llama, vocabSize: 1)
                guard let data = try GGUFMaps.tokenizer(file, config: &config) else {
                    throw ImportError.tokenizer(file: path, reason: "has no tokenizer.ggml.model")
                }
                return (data, ModelConfig.tokenizerPlaceholder(specialTokensOf: config, data))
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
}
