import ArgumentParser
import Foundation
import QKVFormat
import QKVInference

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-token log-probabilities and perplexity of a text under a GPT-2 or LLaMA-style model.",
        discussion: """
            The usual check that a converted model is still the same model: score one text with the original and \
            the converted file and compare. Texts longer than the model's context are scored in windows that \
            overlap by half. Log-probabilities are natural logarithms.
            """
    )

    @Argument(help: "The model: .qkv, HDF5, .safetensors, GGUF, or a Hugging Face folder.")
    var model: String

    @Argument(help: "The text to score.")
    var text: String?

    @Option(help: "Read the text from this file (- for standard input).")
    var file: String?

    @Option(help: "The text as token ids, comma-separated.")
    var ids: String?

    @Flag(help: "Print JSON: ids, pieces, log_probs (null for the first token), mean_log_prob, perplexity (null when it overflows).")
    var json = false

    @Flag(help: "Feed the tokens through decode steps, one at a time, as generation computes them (implied by --activations q8 on CPUs whose prompts keep f32 activations: those without AVX-512 VNNI).")
    var oneTokenAtATime = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var precision: ActivationOptions
    @OptionGroup var hub: RevisionOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard [text != nil, file != nil, ids != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of TEXT, --file or --ids")
        }
        try threading.validate()
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let context = threading.context()
        let language = try LanguageModel(path: model, activations: precision.activations, context: context)
        let tokens: [Int]
        if let ids {
            tokens = try TokenIDList.parse(ids)
        } else {
            tokens = try language.encode(try text ?? InputText.read(file!))
        }
        let start = Date()
        let (logProbabilities, pieces) = try language.score(tokens, oneTokenAtATime: oneTokenAtATime || (precision.activations == .q8 && !NativeKernels.eightBitPrompts))
        let seconds = Date().timeIntervalSince(start)
        let mean = logProbabilities.isEmpty ? 0 : logProbabilities.reduce(0, +) / Double(logProbabilities.count)
        let perplexity = exp(-mean)
        var out = ""
        if json {
            let quoted = pieces.map { JSONValue.string($0).text }.joined(separator: ", ")
            let values = (["null"] + logProbabilities.map { "\($0)" }).joined(separator: ", ")
            out = """
                {"ids": [\(tokens.map(String.init).joined(separator: ", "))], "pieces": [\(quoted)], \
                "log_probs": [\(values)], "mean_log_prob": \(mean), "perplexity": \(perplexity.isFinite ? "\(perplexity)" : "null")}

                """
        } else {
            for (i, piece) in pieces.enumerated() {
                let shown = piece.debugDescription
                out += i == 0 ? String(format: "%8d  %@\n", tokens[i], shown)
                              : String(format: "%8d  %9.4f  %@\n", tokens[i], logProbabilities[i - 1], shown)
            }
            out += String(format: "%d tokens scored: mean log-prob %.4f, perplexity %.4f\n", logProbabilities.count, mean, perplexity)
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if !common.quiet {
            let rate = seconds > 0 ? Double(tokens.count) / seconds : 0
            FileHandle.standardError.write(Data(String(format: "scored %d tokens in %.3f s (%.1f tok/s)\n", tokens.count, seconds, rate).utf8))
        }
    }
}
