import ArgumentParser
import Foundation
import QKVFormat
import QKVInference

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a GPT-2 or LLaMA-style model, streaming tokens as they come.",
        discussion: """
            Greedy by default (--temperature 0): the same model and prompt always give the same text. With a \
            temperature, --top-k and --top-p narrow the choice and --seed fixes the draw (llama.cpp's defaults \
            are --temperature 0.8 --top-k 40 --top-p 0.95). Only the continuation is printed; timing goes to \
            standard error.
            """
    )

    @Argument(help: "The model: .qkv, HDF5, .safetensors, GGUF, or a Hugging Face folder.")
    var model: String

    @Argument(help: "The prompt text (encoded with the model's tokenizer, with its start token).")
    var prompt: String?

    @Option(help: "The prompt as token ids, comma-separated, instead of text.")
    var promptIds: String?

    @Option(help: "Read the prompt text from this file (- for standard input).")
    var file: String?

    @Option(help: "The most tokens to generate.")
    var maxTokens = 64

    @Option(help: "Sampling temperature; 0 picks the most likely token every time.")
    var temperature: Float = 0

    @Option(help: "Sample only among the K most likely tokens.")
    var topK: Int?

    @Option(help: "Sample only among the most likely tokens whose probabilities add up to P.")
    var topP: Float?

    @Option(help: "Seed of the random draw (default: a random seed, printed with the timing).")
    var seed: UInt64?

    @Flag(help: "Keep going past the end-of-text token.")
    var ignoreEos = false

    @Flag(help: "Print the generated token ids (one line, space-separated) instead of text.")
    var ids = false

    @Flag(help: "Print JSON when done instead of streaming: prompt_ids, ids, text (null without a tokenizer), stopped_at_end_of_text, seed (null when greedy), and timings.")
    var json = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var precision: ActivationOptions
    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard [prompt != nil, promptIds != nil, file != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of PROMPT, --prompt-ids or --file")
        }
        guard !(json && ids) else { throw ValidationError("give --json or --ids, not both") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more") }
        if let topK { guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") } }
        if let topP { guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") } }
        try threading.validate()
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let context = threading.context()
        let loadStart = Date()
        let language = try LanguageModel(path: model, activations: precision.activations, context: context)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let promptTokens = try promptIds.map(TokenIDList.parse) ?? language.encode(try prompt ?? InputText.read(file!))
        let seed = seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
        let output = FileHandle.standardOutput
        var first = true
        let printIDs = ids || language.tokenizer == nil
        var generated: [Int] = [], text = ""
        let stats = try language.generate(prompt: promptTokens, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: !ignoreEos,
                                          onToken: { token in
                                              generated.append(token)
                                              guard printIDs && !json else { return }
                                              output.write(Data(((first ? "" : " ") + String(token)).utf8))
                                              first = false
                                          },
                                          onText: { piece in
                                              text += piece
                                              if !printIDs && !json { output.write(Data(piece.utf8)) }
                                          })
        if json {
            let timings = JSONValue.object([
                ("load_seconds", .double(loadSeconds)), ("prompt_tokens", .int(stats.promptTokens)),
                ("prompt_seconds", .double(stats.promptSeconds)), ("prompt_tokens_per_second", .double(stats.promptTokensPerSecond)),
                ("generated_tokens", .int(stats.generatedTokens)), ("decode_steps", .int(stats.decodeSteps)),
                ("decode_seconds", .double(stats.decodeSeconds)), ("decode_tokens_per_second", .double(stats.decodeTokensPerSecond)),
            ])
            output.write(Data(JSONValue.object([
                ("prompt_ids", .ints(promptTokens)), ("ids", .ints(generated)),
                ("text", language.tokenizer == nil ? .null : .string(text)),
                ("stopped_at_end_of_text", .bool(stats.stoppedAtEndOfText)),
                ("seed", temperature > 0 ? .number(String(seed)) : .null), ("timings", timings),
            ]).text.utf8))
        }
        output.write(Data("\n".utf8))
        if !common.quiet {
            let seedNote = temperature > 0 ? "seed \(seed); " : ""
            let stop = stats.stoppedAtEndOfText ? " (stopped at end of text)" : ""
            FileHandle.standardError.write(Data(String(
                format: "%@load %.3f s; prompt %d tokens in %.3f s (%.1f tok/s); generated %d tokens in %.3f s (%.1f tok/s over %d decode steps)%@\n",
                seedNote, loadSeconds, stats.promptTokens, stats.promptSeconds, stats.promptTokensPerSecond,
                stats.generatedTokens, stats.decodeSeconds, stats.decodeTokensPerSecond, stats.decodeSteps, stop).utf8))
        }
    }
}

/// Token ids typed on the command line: `1,2,3` (spaces allowed).
enum TokenIDList {
    static func parse(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { part in
            guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("'\(part)' in --prompt-ids is not a token id")
            }
            return id
        }
    }
}
