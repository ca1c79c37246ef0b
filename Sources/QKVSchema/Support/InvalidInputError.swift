/// The errors that mean "this input's content is wrong" (as opposed to "it could not be read"): every
/// format's error enum conforms (the containers' in QKVFormat, the tokenizers' in QKVTokenizers). `qkv`
/// exits 1 for them and 2 for the rest.
public protocol InvalidInputError: Error {}

extension ModelError: InvalidInputError {}
extension ImportError: InvalidInputError {}
