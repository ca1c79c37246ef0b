import ArgumentParser
import Foundation
import QKVFormat
import QKVInference

struct Rerank: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank documents by relevance to a query with a cross-encoder (a reranker: BERT or XLM-RoBERTa with a classification head).",
        discussion: """
            Each (query, document) pair is read together and scored as sentence-transformers' CrossEncoder.predict does \
            (the model's pair template and token types, then its activation: sigmoid for one label unless its config \
            says otherwise). Documents are each DOC argument, or each line of --file (- reads standard input). Prints \
            rank, index, score and document, most relevant first; --json prints {"results": [{"index", \
            "relevance_score", "document"}]}, the shape of qkv serve's /v1/rerank.
            """
    )

    @Argument(help: "The reranker: .qkv, HDF5, .safetensors, or a Hugging Face folder (a CrossEncoder).")
    var model: String

    @Argument(help: "Documents to rank.")
    var documents: [String] = []

    @Option(help: "The query the documents are ranked for.")
    var query: String

    @Option(help: "Read documents from this file, one per line (- for standard input).")
    var file: String?

    @Option(name: .customLong("top-n"), help: "Print only the N most relevant documents.")
    var topN: Int?

    @Option(help: "Pairs per forward pass.")
    var batch = 32

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var precision: ActivationOptions
    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try threading.validate()
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let topN, topN < 1 { throw ValidationError("--top-n must be at least 1") }
        guard file != nil || !documents.isEmpty else { throw ValidationError("give documents as arguments or --file") }
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let context = threading.context()
        var inputs = documents
        if let file {
            var lines = try InputText.read(file).components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            inputs += lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        }
        let start = Date()
        let reranker = try CrossEncoder(path: model, activations: precision.activations, context: context)
        let ranked = try reranker.rank(query: query, documents: inputs, topN: topN, batchSize: batch)
        if json {
            let results = ranked.map { JSONValue.object([("index", .number("\($0.index)")), ("relevance_score", .number("\($0.score)")),
                                                         ("document", .string(inputs[$0.index]))]) }
            print(JSONValue.object([("results", .array(results))]).text)
        } else {
            for (rank, item) in ranked.enumerated() {
                let text = inputs[item.index].replacingOccurrences(of: "\t", with: " ")
                print("\(rank + 1)\t\(item.index)\t\(String(format: "%.6f", item.score))\t\(text)")
            }
        }
        if !common.quiet {
            FileHandle.standardError.write(Data(String(format: "ranked %d document%@ in %.3f s\n", inputs.count, inputs.count == 1 ? "" : "s",
                                                       Date().timeIntervalSince(start)).utf8))
        }
    }
}
