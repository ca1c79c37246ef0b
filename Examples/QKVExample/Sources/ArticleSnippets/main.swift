// The snippets of the DocC articles and the README, each in a function named after its page, as they are
// printed there (paths included). Compiled, never run: the program only says so. QKVServer's snippet is
// left out, so this package does not build Hummingbird.
import Foundation
import QKVFormat
import QKVInference
import QKVTemplates
import QKVTokenizers
import QKVVisualize

/// README "As a library", and QKVInference's landing page.
func readme() async throws {
    let embedder = try SentenceEmbedder(path: "all-MiniLM-L6-v2")
    let vectors = try await embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
    print(cosineSimilarity(vectors[0], vectors[1]))

    let model = try LanguageModel(path: "tiny.gguf")
    for try await piece in model.stream(prompt: try model.encode("Once upon a time"), maxTokens: 32) {
        print(piece.text, terminator: "")
    }
}

/// QKVInference: Getting started (the embedding call is the synchronous one there).
func inferenceGettingStarted() async throws {
    let embedder = try SentenceEmbedder(path: "/models/all-MiniLM-L6-v2")
    let model = try LanguageModel(path: "/models/tiny.gguf")
    func synchronous() throws {
        let vectors = try embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
        print(embedder.dimension)
        print(cosineSimilarity(vectors[0], vectors[1]))
    }
    try synchronous()

    let prompt = try model.encode("Once upon a time")
    for try await piece in model.stream(prompt: prompt, maxTokens: 32) {
        print(piece.text, terminator: "")
    }
    let sampling = SamplingOptions(temperature: 0.8, topK: 40, topP: 0.95, seed: 42)
    for try await piece in model.stream(prompt: prompt, maxTokens: 32, sampling: sampling) {
        print(piece.text, terminator: "")
    }

    let tokenizer = try loadTokenizer(huggingFaceFile: "/models/all-MiniLM-L6-v2/tokenizer.json")
    let ids = tokenizer.encode("Hello world")
    print(tokenizer.tokens(ids), tokenizer.decode(ids))
}

/// QKVInference: Running a model from Swift.
func runningAModel(documents: [String]) async throws {
    let embedder = try SentenceEmbedder(path: "intfloat/multilingual-e5-small")
    // The article's calls are synchronous; in this async function Swift would pick the async overload.
    func synchronousEmbeds() throws {
        let queries = try embedder.embed(["how tall is the eiffel tower"], prompt: .named("query"))
        let passages = try embedder.embed(documents, prompt: .named("passage"), batchSize: 16)
        _ = (queries, passages)
    }
    try synchronousEmbeds()
    let asyncQueries = try await embedder.embed(["how tall is the eiffel tower"], prompt: .named("query"))
    _ = asyncQueries

    let reranker = try CrossEncoder(path: "cross-encoder/ms-marco-MiniLM-L6-v2")
    let scores = try reranker.scores(query: "what is a panda?", documents: ["The giant panda is a bear.", "Paris is in France."])
    _ = scores

    let model = try LanguageModel(path: "tiny.gguf")
    var ids: [Int] = []
    let stats = try model.generate(prompt: try model.encode("Once upon a time"), maxTokens: 64,
                                   onToken: { ids.append($0) }, onText: { print($0, terminator: "") })
    print("\n\(stats.generatedTokens) tokens at \(stats.decodeTokensPerSecond) tokens/s")

    let prompt = try model.encode("Once upon a time")
    let consumer = Task {
        var received = 0
        for try await piece in model.stream(prompt: prompt, maxTokens: 512, stopAtEndOfText: false) {
            received += piece.tokens.count
            print(piece.text, terminator: "")
        }
        return received
    }
    consumer.cancel()
    let received = try await consumer.value
    _ = received

    let scored = try model.encode("The capital of France is Paris.")
    let (logProbabilities, pieces) = try model.score(scored)
    _ = (logProbabilities, pieces)

    _ = try LanguageModel(path: "tiny.gguf", activations: .q8)
    _ = model.model.makeSession(capacity: 64)
    let context = ComputeContext(threads: 2)
    let sharing = try SentenceEmbedder(path: "all-MiniLM-L6-v2", context: context)
    let generator = try LanguageModel(path: "tiny.gguf", context: context)
    _ = (sharing, generator)
}

/// QKVTokenizers' landing page.
func tokenizers() throws {
    let tokenizer = try loadTokenizer(huggingFaceFile: "all-MiniLM-L6-v2/tokenizer.json")
    let ids = tokenizer.encode("Hello world")
    let bare = tokenizer.encode("Hello world", addSpecialTokens: false)
    print(tokenizer.tokens(ids), bare)
    print(tokenizer.decode(ids))
}

/// QKVFormat's landing page and Getting started.
func format() throws {
    let model = try ModelFile(try openWeightFile(path: "all-MiniLM-L6-v2"))
    let q = try model.file.tensor("layers/0/attn/q/weight")
    let head3 = q.slab(3)
    let values: [Float] = head3.floats()
    _ = values

    let file = try openWeightFile(path: "/models/all-MiniLM-L6-v2")
    print(file.format)
    for info in file.tensors.prefix(3) {
        print(info.name, info.dtype, info.shape)
    }
    let checked = try ModelFile(file)
    let config = checked.config
    print(config.layerCount, config.headCount, config.keyValueHeadCount, config.headDim, config.modelDim)
    print(checked.tokenizer?.kind as Any)
    _ = ModelFile.problems(in: file)
    _ = try openForInspection(path: "/models/unknown-architecture")

    try Converter.convert(input: "/models/all-MiniLM-L6-v2", output: "minilm.qkv", format: .qkv)
    try Converter.convert(input: "minilm.qkv", output: "minilm-f16.h5", format: .hdf5,
                          options: WriteOptions(dtype: .f16, compress: true))
    let summary = try Converter.convert(input: "model.qkv", output: "model-q4_k_m.gguf", format: .gguf,
                                        options: WriteOptions(quantization: .mix(.q4_k_m)))
    print(summary.tensorCount, summary.bytesWritten)
}

/// QKVTemplates' landing page.
func templates(source: String) throws {
    let template = try Template(source)
    let prompt = try template.renderChat(
        messages: [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi!"]],
        addGenerationPrompt: true,
        extra: ["bos_token": "<s>", "eos_token": "</s>"])
    _ = prompt
    _ = try TemplateValue(json: #"[{"type": "function"}]"#)
}

/// QKVVisualize's landing page.
func visualize() throws {
    let analyzer = try AttentionAnalyzer(path: "all-MiniLM-L6-v2")
    let report = try analyzer.analyze("a miniature Eiffel tower is a toy on my desk")
    print(AttentionTerminal.table(report, order: .layer))
    try AttentionHTML.page(report).write(toFile: "attention.html", atomically: true, encoding: .utf8)
    let svg = AttentionSVG.head(report, layer: 0, head: 0)
    _ = svg
}

print("ArticleSnippets compiles the documentation's code; it runs none of it.")
