import ArgumentParser
import Foundation
import QKVFormat
import QKVTokenizers

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model file against its format and the schema.",
        discussion: """
            Exit status: 0 valid, 1 invalid, 2 usage or I/O error, 3 a valid container of an architecture or \
            tensor type qkv has no map for (it cannot run or convert it; `qkv inspect` shows the file as it is).
            """
    )

    @Argument(help: "The model file to check (any format qkv reads).")
    var file: String

    @Flag(help: "Also read every tensor: checksums (.qkv), zero padding, NaN and infinity.")
    var deep = false

    @Flag(help: "Print JSON: file, status (valid, invalid or unsupported), format, family, tensors, deep, problems. The exit status is the same.")
    var json = false

    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        // `org/name` and hub cache folders name the snapshot on disk.
        let file = try HubCache.resolve(self.file, revision: hub.revision)
        let weights: any WeightFile
        do {
            weights = try openWeightFile(path: file)
        } catch let error as ImportError where error.isUnsupportedButWellFormed {
            // The container was read and checked in full before the mapping failed.
            let format = try ContainerFormat.detect(path: file).rawValue
            if json {
                printJSON(file, status: "unsupported", format: format, problems: [error])
            } else {
                print("\(file): valid \(format) container, but qkv cannot map it")
                print("  - \(error)")
            }
            throw ExitCode(ExitStatus.unsupported)
        } catch where ExitStatus.code(for: error) == ExitStatus.invalid {
            report([error], format: try? ContainerFormat.detect(path: file).rawValue)
            throw ExitCode(ExitStatus.invalid)
        }
        // The schema checked once: a conforming file gives its model, else every problem is listed.
        var problems: [any Error] = []
        var model: ModelFile?
        do { model = try ModelFile(weights) } catch { problems = ModelFile.problems(in: weights) }
        // Tokenizer data that reads but cannot build a tokenizer (merges naming tokens not in the
        // vocabulary, options no tokenizer has) would otherwise fail only when text is first encoded.
        if let model, let data = model.tokenizer {
            do { _ = try makeTokenizer(data: data, config: model.config) } catch { problems.append(TokenizerFileError(file: file, error: error)) }
        }
        if deep && problems.isEmpty, let model {
            let bar = common.progressBar("checking")
            problems += try model.deepProblems(progress: { bar?.update($0, $1) })
        }
        guard problems.isEmpty else {
            report(problems, format: weights.format.rawValue)
            throw ExitCode(ExitStatus.invalid)
        }
        let family = (weights.metadata["config.family"]).map { "\($0)".replacingOccurrences(of: "\"", with: "") }
        if json {
            printJSON(file, status: "valid", format: weights.format.rawValue, family: family, tensors: weights.tensors.count, problems: [])
        } else if !common.quiet {
            print("\(file): valid (\(weights.format.rawValue), \(family ?? "?"), \(weights.tensors.count) tensors\(deep ? ", deep" : ""))")
        }
    }

    private func report(_ problems: [any Error], format: String?) {
        if json { return printJSON(file, status: "invalid", format: format, problems: problems) }
        print("\(file): invalid")
        for problem in problems { print("  - \(problem)") }
    }

    private func printJSON(_ file: String, status: String, format: String?, family: String? = nil, tensors: Int? = nil, problems: [any Error]) {
        let value = JSONValue.object([
            ("file", .string(file)), ("status", .string(status)), ("format", format.map(JSONValue.string) ?? .null),
            ("family", family.map(JSONValue.string) ?? .null), ("tensors", tensors.map(JSONValue.int) ?? .null),
            ("deep", .bool(deep)), ("problems", .strings(problems.map { "\($0)" })),
        ])
        print(value.text)
    }
}
