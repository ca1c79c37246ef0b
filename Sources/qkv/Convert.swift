import ArgumentParser
import Foundation
import QKVFormat

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model file to another container or dtype.",
        discussion: """
            IN is a .qkv, HDF5, .safetensors or GGUF file, or a Hugging Face checkpoint folder (config.json with \
            model.safetensors or sharded weights, or pytorch_model.bin, read without running its pickle). The output format follows OUT's extension (.qkv, .h5, .hdf5, \
            .safetensors, .gguf) unless --to says otherwise; a folder OUT with --to safetensors gets model.safetensors and \
            config.json. The output appears only when complete; the input is never modified.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case qkv, hdf5, safetensors, gguf
        var container: ContainerFormat { ContainerFormat(rawValue: rawValue)! }
    }

    /// A float dtype every float tensor becomes, or a quantization of the matrices.
    enum TargetDType: ExpressibleByArgument, CustomStringConvertible {
        case float(DType)
        case quantized(QuantizationScheme)

        init?(argument: String) {
            if let dtype = DType(name: argument), dtype.isFloat {
                self = .float(dtype)
            } else if let scheme = QuantizationScheme(name: argument) {
                self = .quantized(scheme)
            } else {
                return nil
            }
        }

        static var allValueStrings: [String] {
            ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]
                + KQuantMix.allCases.map(\.rawValue)
        }

        var description: String {
            switch self {
            case .float(let dtype): dtype.name
            case .quantized(let scheme): scheme.description
            }
        }

        var options: (DType?, QuantizationScheme?) {
            switch self {
            case .float(let dtype): (dtype, nil)
            case .quantized(let scheme): (nil, scheme)
            }
        }
    }

    @Argument(help: "The model to read: .qkv, HDF5, .safetensors, or a Hugging Face folder.")
    var input: String

    @Argument(help: "The file to write.")
    var output: String

    @Option(help: "Output container, when OUT's extension does not say.")
    var to: Format?

    @Option(help: ArgumentHelp("f32, f16, bf16: every float tensor in this dtype (rounded to nearest even). A block type quantizes the matrices and keeps the rest: q8_0, q4_0, q4_1, q5_0, q5_1 (bit-identical to gguf-py's quantize); q2_k, q3_k, q4_k, q5_k, q6_k (bit-identical to llama.cpp's quantizers); the mixes q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m choose a type per tensor as llama.cpp's llama-quantize does.", valueName: "dtype"))
    var dtype: TargetDType?

    @Flag(help: "HDF5 output: chunked, shuffle + deflate datasets, one chunk per attention head.")
    var compress = false

    @Option(help: ArgumentHelp("GGUF output: shards of at most this much tensor data (e.g. 500M, 2G; M = 10⁶ bytes, G = 10⁹), named OUT-0000K-of-0000N.gguf, as llama.cpp's gguf-split writes them.", valueName: "size"))
    var splitMaxSize: String?

    @Option(help: ArgumentHelp("GGUF output: shards of at most this many tensors, as gguf-split's --split-max-tensors.", valueName: "n"))
    var splitMaxTensors: Int?

    @Flag(help: "Print JSON when done: input, output, shards, format, dtype, tensors, parameters, bytes, omitted, seconds.")
    var json = false

    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard to != nil || ContainerFormat(pathExtension: output) != nil else {
            throw ValidationError("cannot tell the output format from '\(output)'; use .qkv, .h5, .hdf5, .safetensors or .gguf, or --to")
        }
        if compress && (to?.container ?? ContainerFormat(pathExtension: output)) != .hdf5 {
            throw ValidationError("--compress applies to HDF5 output only")
        }
        if splitMaxSize != nil || splitMaxTensors != nil {
            guard (to?.container ?? ContainerFormat(pathExtension: output)) == .gguf else { throw ValidationError("--split-max-size and --split-max-tensors apply to GGUF output only") }
            guard splitMaxSize == nil || splitMaxTensors == nil else { throw ValidationError("give --split-max-size or --split-max-tensors, not both") }
            if let size = splitMaxSize, GGUFSplit.Limit(size: size) == nil { throw ValidationError("--split-max-size \(size): expected a whole number of M or G, e.g. 500M or 2G") }
            if let n = splitMaxTensors, n < 1 { throw ValidationError("--split-max-tensors must be at least 1") }
        }
    }

    func run() throws {
        let input = try hub.resolve(self.input)
        let format = to?.container ?? ContainerFormat(pathExtension: output)!
        let bar = common.progressBar("converting")
        let start = Date()
        let summary = try Converter.convert(input: input, output: output, format: format,
                                            options: WriteOptions(dtype: dtype?.options.0, quantization: dtype?.options.1, compress: compress,
                                                                 split: splitMaxSize.flatMap(GGUFSplit.Limit.init(size:)) ?? splitMaxTensors.map { .tensors($0) }),
                                            progress: { bar?.update($0, $1) })
        if !summary.omittedTensors.isEmpty {
            // Not an error, but never silent: the output lacks these.
            FileHandle.standardError.write(Data("note: \(format.rawValue) has no place for \(summary.omittedTensors.joined(separator: ", ")); left out of \(output)\n".utf8))
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(JSONValue.object([
                ("input", .string(input)), ("output", .string(output)), ("shards", .strings(summary.shards)),
                ("format", .string(format.rawValue)), ("dtype", dtype.map { .string("\($0)") } ?? .null),
                ("tensors", .int(summary.tensorCount)), ("parameters", .int(summary.parameterCount)),
                ("bytes", .int(summary.bytesWritten)), ("omitted", .strings(summary.omittedTensors)), ("seconds", .double(seconds)),
            ]).text)
        } else if !common.quiet {
            let target = summary.shards.isEmpty ? output : "\(summary.shards[0]) (+\(summary.shards.count - 1) shards)"
            print("\(input) -> \(target): \(summary.tensorCount) tensors, \(formatCount(summary.parameterCount)) parameters, "
                  + "\(formatBytes(summary.bytesWritten)) \(format.rawValue)\(dtype.map { " (\($0))" } ?? "") in \(String(format: "%.2f", seconds)) s")
        }
    }
}
