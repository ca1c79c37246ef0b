import QKVFormat
import QKVTokenizers

/// The tokenizer of what is at `path`: a model file in any format qkv reads (a `.qkv`, HDF5, safetensors
/// or GGUF file, a Hugging Face folder or cache name), a Hugging Face `tokenizer.json`, or a GGUF without
/// tensors (`TokenizerSource.load`). Here rather than in QKVTokenizers, which sees no container;
/// `loadTokenizer(huggingFaceFile:)` there reads a `tokenizer.json` alone.
/// - Throws: what reading the file throws; `TokenizerFileError` when its tokenizer data cannot make a
///   tokenizer.
public func loadTokenizer(path: String) throws -> any Tokenizer {
    let (data, config) = try TokenizerSource.load(path: path)
    do {
        return try makeTokenizer(data: data, config: config)
    } catch {
        throw TokenizerFileError(file: path, error: error)
    }
}
