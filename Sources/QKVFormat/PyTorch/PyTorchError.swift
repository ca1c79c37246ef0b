/// A `pytorch_model.bin` (torch.save's zip of a pickle and raw storages) that qkv will not read: broken,
/// or asking the pickle machine for something other than building tensors. `offset` is a byte offset in
/// the file (zip structure) or in `data.pkl` (pickle opcodes).
public enum PyTorchError: Error, Equatable, Sendable {
    /// No zip end-of-central-directory record: not a zip (torch.save's pre-1.6 format is not read).
    case notAZip(file: String)
    /// A zip structure that breaks the format or runs past the file.
    case badZip(file: String, offset: Int, reason: String)
    /// A zip entry qkv cannot map: compressed (torch.save stores every entry uncompressed), encrypted.
    case unsupportedEntry(file: String, entry: String, reason: String)
    /// A file the checkpoint needs is not in the zip.
    case missingEntry(file: String, entry: String)
    /// The pickle names a global outside the allow-list; it is never imported or called.
    case forbiddenGlobal(file: String, offset: Int, global: String)
    /// An opcode the machine does not run (the protocol-2..5 subset torch.save writes is run).
    case unsupportedOpcode(file: String, offset: Int, opcode: UInt8)
    /// The pickle is malformed: stack underflow, a missing mark or memo entry, truncation, a limit passed.
    case badPickle(file: String, offset: Int, reason: String)
    /// The unpickled object is not a state dict: a dictionary of names to tensors.
    case notAStateDict(file: String, reason: String)
    /// A tensor whose storage, dtype, shape, strides or offset cannot be what it claims.
    case badTensor(file: String, tensor: String, reason: String)
}

extension PyTorchError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .notAZip(file):
            "\(file): not a zip archive, so not a pytorch_model.bin written by torch.save since PyTorch 1.6 (the older format is not read; re-save it, or convert it to safetensors)"
        case let .badZip(file, offset, reason):
            "\(file): broken zip at byte \(offset): \(reason)"
        case let .unsupportedEntry(file, entry, reason):
            "\(file): zip entry '\(entry)' \(reason)"
        case let .missingEntry(file, entry):
            "\(file): the archive has no '\(entry)'"
        case let .forbiddenGlobal(file, offset, global):
            "\(file): data.pkl at byte \(offset) asks for '\(global)', which is not one of the tensor-building globals qkv allows; refused, nothing was run"
        case let .unsupportedOpcode(file, offset, opcode):
            "\(file): data.pkl at byte \(offset) has pickle opcode 0x\(String(opcode, radix: 16, uppercase: true)), which a state dict does not need; refused"
        case let .badPickle(file, offset, reason):
            "\(file): data.pkl is broken at byte \(offset): \(reason)"
        case let .notAStateDict(file, reason):
            "\(file): not a state dict: \(reason)"
        case let .badTensor(file, tensor, reason):
            "\(file): tensor '\(tensor)': \(reason)"
        }
    }
}
