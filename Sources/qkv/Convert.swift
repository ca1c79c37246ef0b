import ArgumentParser
import Foundation
import QKVFormat

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model file to another container or dtype.",
        discussion: """
            IN is a .qkv, HDF5, .safetensors or GGUF file, or a Hugging Face checkpoint folder (config.json with \
            model.safetensors or sharded weights). The output format follows OUT's extension (.qkv, .h5, .hdf5, \
            .safetensors, .gguf) unless --to says otherwise; a folder OUT with --to safetensors gets model.safetensors and \
            config.json. The output appears only when complete; the input is never modified.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case qkv, hdf5, safetensors, gguf
        var container: ContainerFormat { ContainerFormat(rawValue: rawValue)! }
    }

    enum TargetDType: String, ExpressibleByArgument, CaseIterable {
        case f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1
        var dtype: DType { DType(name: rawValue)! }
    }

    @Argument(help: "The model to read: .qkv, HDF5, .safetensors, or a Hugging Face folder.")
    var input: String

    @Argument(help: "The file to write.")
    var output: String

    @Option(help: "Output container, when OUT's extension does not say.")
    var to: Format?

    @Option(help: "Store every float tensor as this dtype (rounded to nearest even); q8_0, q4_0, q4_1, q5_0 and q5_1 quantize the matrices (ggml's blocks of 32, bit-identical to gguf-py's quantize) and keep the rest.")
    var dtype: TargetDType?

    @Flag(help: "HDF5 output: chunked, shuffle + deflate datasets, one chunk per attention head.")
    var compress = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard to != nil || ContainerFormat(pathExtension: output) != nil else {
            throw ValidationError("cannot tell the output format from '\(output)'; use .qkv, .h5, .hdf5, .safetensors or .gguf, or --to")
        }
        if compress && (to?.container ?? ContainerFormat(pathExtension: output)) != .hdf5 {
            throw ValidationError("--compress applies to HDF5 output only")
        }
    }

    func run() throws {
        let format = to?.container ?? ContainerFormat(pathExtension: output)!
        let bar = common.progressBar("converting")
        let start = Date()
        let summary = try Converter.convert(input: input, output: output, format: format,
                                            options: WriteOptions(dtype: dtype?.dtype, compress: compress),
                                            progress: { bar?.update($0, $1) })
        if !summary.omittedTensors.isEmpty {
            // Not an error, but never silent: the output lacks these.
            FileHandle.standardError.write(Data("note: \(format.rawValue) has no place for \(summary.omittedTensors.joined(separator: ", ")); left out of \(output)\n".utf8))
        }
        if !common.quiet {
            let seconds = Date().timeIntervalSince(start)
            print("\(input) -> \(output): \(summary.tensorCount) tensors, \(formatCount(summary.parameterCount)) parameters, "
                  + "\(formatBytes(summary.bytesWritten)) \(format.rawValue)\(dtype.map { " (\($0.rawValue))" } ?? "") in \(String(format: "%.2f", seconds)) s")
        }
    }
}
