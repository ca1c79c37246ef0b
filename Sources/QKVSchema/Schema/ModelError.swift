/// A model file whose container is sound but whose content breaks the schema (Specs/schema.md): the
/// config, the tokenizer data, the tensor set, or (found by `validate --deep`) the values themselves.
public enum ModelError: Error, Equatable, Sendable {
    /// A required `config.*` key is absent.
    case missingKey(file: String, key: String)
    /// A key holds a value of the wrong type.
    case wrongKeyType(file: String, key: String, expected: String, found: String)
    /// A `config.*` or `tokenizer.*` key the schema does not define.
    case unknownKey(file: String, key: String)
    /// A key is malformed or in an unknown section.
    case invalidKey(file: String, key: String, reason: String)
    /// A key's value is out of range or inconsistent with another.
    case invalidValue(file: String, key: String, value: String, reason: String)
    /// A tensor the config calls for is not in the file.
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    /// A tensor the config does not call for.
    case unexpectedTensor(file: String, tensor: String)
    /// A tensor's shape disagrees with the config.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// A tensor's stored role disagrees with its name.
    case roleMismatch(file: String, tensor: String, expected: TensorRole, found: TensorRole)
    /// A model tensor stored with a dtype models may not use.
    case dtypeNotAllowed(file: String, tensor: String, dtype: DType)
    /// A per-token tokenizer array whose length differs from the token count.
    case tokenizerArrayLength(file: String, key: String, expected: Int, found: Int)
    /// A token id that names no token.
    case tokenIdOutOfRange(file: String, key: String, id: Int64, tokenCount: Int)
    /// A tensor holds NaN or infinity (`validate --deep`).
    case nonFiniteValue(file: String, tensor: String, index: Int, value: Float)
    /// A block-quantized tensor has a NaN or infinite scale (`validate --deep`); `index` is the block's
    /// first element.
    case nonFiniteScale(file: String, tensor: String, dtype: DType, index: Int, value: Float)
}

extension ModelError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .missingKey(file, key):
            "\(file): metadata key '\(key)' is required but missing"
        case let .wrongKeyType(file, key, expected, found):
            "\(file): metadata key '\(key)' has type \(found), expected \(expected)"
        case let .unknownKey(file, key):
            "\(file): metadata key '\(key)' is not defined by the schema (Specs/schema.md)"
        case let .invalidKey(file, key, reason):
            "\(file): metadata key '\(key)' is invalid: \(reason)"
        case let .invalidValue(file, key, value, reason):
            "\(file): metadata key '\(key)' = \(value) is invalid: \(reason)"
        case let .missingTensor(file, tensor, shape):
            "\(file): tensor '\(tensor)' \(shape) is required by the config but missing"
        case let .unexpectedTensor(file, tensor):
            "\(file): tensor '\(tensor)' is not part of this model's schema (a stray tensor)"
        case let .shapeMismatch(file, tensor, expected, found):
            "\(file): tensor '\(tensor)' has shape \(found), expected \(expected) from the config"
        case let .roleMismatch(file, tensor, expected, found):
            "\(file): tensor '\(tensor)' is stored with role \(found), expected \(expected)"
        case let .dtypeNotAllowed(file, tensor, dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype), expected f32, f16, bf16, or a block type (q8_0, q4_k, ...) for a model tensor of rank 2 or more"
        case let .tokenizerArrayLength(file, key, expected, found):
            "\(file): '\(key)' has \(found) entries, expected \(expected) (one per token)"
        case let .tokenIdOutOfRange(file, key, id, count):
            "\(file): '\(key)' = \(id) is not a token id (the tokenizer has \(count) tokens)"
        case let .nonFiniteValue(file, tensor, index, value):
            "\(file): tensor '\(tensor)' holds \(value) at element \(index)"
        case let .nonFiniteScale(file, tensor, dtype, index, value):
            "\(file): tensor '\(tensor)' (\(dtype)) has a \(value.isNaN ? "NaN" : "\(value)") scale in the block of elements \(index)..<\(index + dtype.blockSize)"
        }
    }
}
