import ArgumentParser
import Foundation
import QKVFormat
import QKVInference

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sentence embeddings from a BERT-style or XLM-RoBERTa model (e.g. all-MiniLM-L6-v2, multilingual-e5).",
        discussion: "One vector per input: each TEXT argument, or each line of --file (- reads standard input). Timing goes to standard error."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, tsv, npy }

    @Argument(help: "The model: .qkv, HDF5, .safetensors, GGUF, or a Hugging Face folder.")
    var model: String

    @Argument(help: "Texts to embed.")
    var texts: [String] = []

    @Option(help: "Read texts from this file, one per line (- for standard input).")
    var file: String?

    @Option(help: "Texts per forward pass.")
    var batch = 32

    @Option(help: "Output format (default json; for --similarity, a table); npy needs --output or a non-terminal standard output.")
    var format: Format?

    @Option(name: .shortAndLong, help: "Write the output to this file instead of standard output.")
    var output: String?

    @Option(name: .customLong("prompt-name"), help: "Put the model's prompt of this name before every input (sentence-transformers' prompt_name).")
    var promptName: String?

    @Option(help: "Put this text before every input, instead of the model's default prompt.")
    var prompt: String?

    @Flag(help: "Print the cosine similarity matrix of the inputs instead of the vectors.")
    var similarity = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var precision: ActivationOptions
    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        try threading.validate()
        guard file != nil || !texts.isEmpty else { throw ValidationError("give texts as arguments or --file") }
        if promptName != nil && prompt != nil { throw ValidationError("give --prompt-name or --prompt, not both") }
        if format == .npy && output == nil && isatty(STDOUT_FILENO) != 0 {
            throw ValidationError("npy is binary: give --output FILE or redirect standard output")
        }
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let context = threading.context()
        let inputs = try texts + readLines()
        let loadStart = Date()
        let embedder = try SentenceEmbedder(path: model, activations: precision.activations, context: context)
        let loaded = Date()
        let chosen: SentenceEmbedder.Prompt = promptName.map { .named($0) } ?? prompt.map { .text($0) } ?? .modelDefault
        let vectors = try embedder.embed(inputs, prompt: chosen, batchSize: batch)
        let seconds = Date().timeIntervalSince(loaded)
        let out: Data
        if similarity {
            let matrix = vectors.map { a in vectors.map { b in Float(cosineSimilarity(a, b)) } }
            // A table unless a format is asked for (scripts say --format json).
            out = format.map { EmbedOutput.encode(matrix, as: $0) } ?? Data(EmbedOutput.similarityTable(matrix, labels: inputs).utf8)
        } else {
            out = EmbedOutput.encode(vectors, as: format ?? .json)
        }
        if let output {
            try writeOutputFile(out, to: output)
        } else {
            FileHandle.standardOutput.write(out)
        }
        if !common.quiet {
            let rate = seconds > 0 ? Double(inputs.count) / seconds : 0
            FileHandle.standardError.write(Data(String(format: "embedded %d text%@ in %.3f s (%.1f texts/s, batch %d, %d threads); model load %.3f s; BLAS kernels %@\n",
                                                       inputs.count, inputs.count == 1 ? "" : "s", seconds, rate, batch, threading.threads,
                                                       loaded.timeIntervalSince(loadStart), blasCoreName).utf8))
        }
    }

    private func readLines() throws -> [String] {
        guard let file else { return [] }
        var lines = try InputText.read(file).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    }
}

/// The output forms of `qkv embed`.
enum EmbedOutput {
    static func encode(_ vectors: [[Float]], as format: Embed.Format) -> Data {
        switch format {
        case .json:
            // Shortest round-tripping decimal for each float (null for NaN), one vector a line.
            return Data(("[" + vectors.map { JSONText.array($0.map(JSONText.number)) }.joined(separator: ",\n") + "]\n").utf8)
        case .tsv:
            return Data(vectors.map { $0.map { "\($0)" }.joined(separator: "\t") + "\n" }.joined().utf8)
        case .npy:
            return npy(vectors)
        }
    }

    /// NumPy's .npy v1.0: magic, version, header length, a Python dict literal padded to 64 bytes, then
    /// little-endian float32 rows.
    static func npy(_ vectors: [[Float]]) -> Data {
        let columns = vectors.first?.count ?? 0
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(vectors.count), \(columns)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for vector in vectors { vector.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// The cosine matrix as a small table: row labels are the texts, shortened.
    static func similarityTable(_ matrix: [[Float]], labels: [String]) -> String {
        let width = 28
        func short(_ s: String) -> String {
            let flat = s.replacingOccurrences(of: "\t", with: " ")
            return flat.count <= width ? flat.padding(toLength: width, withPad: " ", startingAt: 0) : String(flat.prefix(width - 1)) + "…"
        }
        var out = "".padding(toLength: width + 2, withPad: " ", startingAt: 0) + matrix.indices.map { String(format: "%7d", $0 + 1) }.joined() + "\n"
        for (i, row) in matrix.enumerated() {
            out += String(format: "%2d ", i + 1) + short(labels[i]) + " " + row.map { String(format: "%7.3f", Double($0)) }.joined() + "\n"
        }
        return out
    }
}
