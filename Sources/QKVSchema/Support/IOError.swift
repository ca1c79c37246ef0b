#if canImport(Glibc)
import Glibc
#endif

/// Failures to reach or write a file, as opposed to a file whose content is wrong.
public enum IOError: Error, Equatable, Sendable {
    case cannotOpen(file: String, errno: Int32)
    case notARegularFile(file: String)
    case cannotMap(file: String, errno: Int32)
    case readFailed(file: String, errno: Int32)
    case cannotCreate(file: String, errno: Int32)
    case writeFailed(file: String, errno: Int32)
    /// The output would replace the input.
    case sameFile(input: String, output: String)
    /// Neither a `.qkv` nor an HDF5 signature at the start of the file.
    case unrecognizedFormat(file: String, firstBytes: [UInt8])
    /// The output's extension names no format qkv writes.
    case unknownOutputFormat(file: String)
}

extension IOError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .cannotOpen(file, code): "\(file): cannot open: \(String(cString: strerror(code)))"
        case let .notARegularFile(file): "\(file): not a regular file"
        case let .cannotMap(file, code): "\(file): cannot map into memory: \(String(cString: strerror(code)))"
        case let .readFailed(file, code): "\(file): read failed: \(String(cString: strerror(code)))"
        case let .cannotCreate(file, code): "\(file): cannot create: \(String(cString: strerror(code)))"
        case let .writeFailed(file, code): "\(file): write failed: \(String(cString: strerror(code))); nothing was written under that name"
        case let .sameFile(input, output): "\(output): is the input file \(input); refusing to overwrite it"
        case let .unrecognizedFormat(file, bytes):
            "\(file): not a .qkv, HDF5, safetensors or GGUF file (starts with \(bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")))"
        case let .unknownOutputFormat(file): "\(file): cannot tell the output format from the extension; use .qkv, .h5, .hdf5, .safetensors or .gguf, or --to"
        }
    }
}

extension String {
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

extension String {
    /// Whether the UTF-8 bytes start with `prefix`'s. Unlike `hasPrefix`, which compares Characters, a
    /// combining mark after the prefix ("##" + "\u{093E}" forms the grapheme "#\u{093E}") does not hide it.
    package func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// The string without the first `prefix.utf8.count` bytes; call only after `hasBytePrefix(prefix)`.
    package func droppingBytePrefix(_ prefix: String) -> String { String(decoding: utf8.dropFirst(prefix.utf8.count), as: UTF8.self) }
}
