import ArgumentParser
import Foundation
import QKVFormat
import QKVInference

/// Flags shared by the subcommands that read a model file and may take a while.
struct CommonOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "No progress bar and no summary line.")
    var quiet = false

    /// A progress bar on stderr when it is a terminal and not `--quiet`.
    func progressBar(_ label: String) -> ProgressBar? {
        quiet || isatty(STDERR_FILENO) == 0 ? nil : ProgressBar(label: label)
    }
}

/// `label [#####.....] 12/29` on one line of stderr, redrawn in place.
final class ProgressBar {
    let label: String
    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        if done == total { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Human-readable byte counts: 1023 B, 1.5 KiB, 12.3 MiB.
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// 1234567 -> "1,234,567".
func formatCount(_ n: Int) -> String {
    let digits = String(n)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return out
}

/// A file's size, or for a folder (a checkpoint) the sizes of the files directly in it.
func fileSize(_ path: String) -> Int {
    func size(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p)[.size]) as? NSNumber)?.intValue ?? 0 }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return size(path) }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.reduce(0) { total, name in
        var isDir: ObjCBool = false
        let p = "\(path)/\(name)"
        return total + (FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && !isDir.boolValue ? size(p) : 0)
    }
}

/// `--revision`, shared by the commands that open one model: which snapshot of a Hugging Face cache entry.
struct RevisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("For a model named org/name or a models--org--name cache folder: the branch, tag or commit of the Hugging Face cache to read (default: main). The cache is only read, never downloaded to.",
                               valueName: "revision"))
    var revision: String?

    /// The path to open for `model` as given: the snapshot of `--revision` (HubCache), or `model` as it is.
    func resolve(_ model: String) throws -> String {
        guard let revision else { return model }
        return try HubCache.resolve(model, revision: revision)
    }
}

/// `--threads`, shared by the commands that run a model.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads to compute on: qkv's own, each running single-threaded matrix products.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    /// Picks the fast BLAS kernels for this CPU (may re-run the process once) and returns the context
    /// the command's models compute with: `--threads` threads.
    func context() -> ComputeContext {
        relaunchWithFastBLASKernelsIfNeeded()
        return ComputeContext(threads: threads)
    }
}

/// `--activations`, shared by the commands that run a model (generate, score, embed, rerank, serve).
struct ActivationOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "What products of reduced-precision weights multiply: f32 activations, exact (the file computes what its f32 widening computes); q8: block-quantized weights (q4_0 … q6_k, iq4, q8_0) take 8-bit blocks and integer dot products, as llama.cpp does (faster, not exact; prompts too on CPUs with AVX-512 VNNI, else they keep f32); bf16: the products of many tokens (prompts, embedding batches) through bf16 or f32 weights take activations, and f32 weights, rounded to bf16 and AVX512_BF16 dot products where the CPU has them, as llama.cpp does with bf16 models (faster, not exact; decode keeps f32).",
        valueName: "f32|q8|bf16"))
    var activations: ActivationPrecision = .f32
}

extension ActivationPrecision: ExpressibleByArgument {}

/// Reading texts from files or standard input.
enum InputText {
    static func read(_ file: String) throws -> String {
        if file == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        return String(decoding: data, as: UTF8.self)
    }
}
