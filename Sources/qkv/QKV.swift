import ArgumentParser
import Foundation
import QKVFormat
import QKVInference
import QKVTokenizers

/// The `qkv` command: convert, inspect and validate transformer weight files.
struct QKV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qkv",
        abstract: "Convert, inspect and validate transformer weight files, and run the models in them.",
        version: Converter.version,
        subcommands: [Convert.self, Inspect.self, Validate.self, Embed.self, Rerank.self, Generate.self, Score.self, Attention.self, Tokenize.self, Serve.self]
    )
}

/// Runs the command and maps outcomes to exit codes: 0 success, 1 an invalid input file, 2 a usage or
/// I/O error (what `qkv validate` promises, and every other subcommand follows).
@main
enum Main {
    static func main() {
        runBLASOnCallingThreads()
        do {
            var command = try QKV.parseAsRoot(Attention.givingBareAblateItsMode(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = ExitStatus.code(for: error)
            if code == ExitStatus.usage && !ExitStatus.isLibraryError(error) {
                // Argument errors: let ArgumentParser print usage and help, but with our exit code.
                let argumentCode = QKV.exitCode(for: error)
                if argumentCode == .success { QKV.exit(withError: error) }
                FileHandle.standardError.write(Data((QKV.fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage)
            }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(code)
        }
    }
}

enum ExitStatus {
    static let invalid: Int32 = 1
    static let usage: Int32 = 2
    /// `validate`: a well-formed file of an architecture or tensor type qkv has no map for.
    static let unsupported: Int32 = 3

    static func isLibraryError(_ error: Error) -> Bool {
        error is InvalidInputError || error is IOError || error is ConversionError || error is InferenceError || error is TokenizerError
    }

    /// 1 for a file whose content is wrong, 2 for everything else that fails.
    static func code(for error: Error) -> Int32 {
        switch error {
        case is InvalidInputError: return invalid
        case IOError.unrecognizedFormat: return invalid
        case ConversionError.cannotConvert: return invalid
        default: return usage
        }
    }
}
