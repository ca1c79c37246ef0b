import ArgumentParser
import Foundation
import QKVFormat
import QKVInference
import QKVTokenizers

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The token ids and pieces of a text, with the tokenizer a model file carries.",
        discussion: """
            MODEL is any model file qkv reads, a Hugging Face tokenizer.json, or a GGUF with only a tokenizer \
            (llama.cpp's ggml-vocab-*.gguf). Without options, one line per token: the id and the vocabulary \
            string (GPT-2's byte alphabet shows a space as Ġ, SentencePiece as ▁). BOS/EOS are added as the file says. \
            Several texts are tokenized one by one: --ids and --json print one line each, the default a blank line between them.
            """
    )

    @Argument(help: "The model or tokenizer: .qkv, HDF5, .safetensors, GGUF, a Hugging Face folder or tokenizer.json.")
    var model: String

    @Argument(help: "The texts to tokenize.")
    var texts: [String] = []

    @Option(help: "Read the text from this file (- for standard input).")
    var file: String?

    @Flag(help: "Print only the ids, comma-separated (what generate --prompt-ids takes).")
    var ids = false

    @Flag(help: "Print JSON: ids and pieces.")
    var json = false

    @Flag(help: "Leave out the BOS/EOS the tokenizer would add.")
    var noSpecial = false

    @OptionGroup var hub: RevisionOptions

    func validate() throws {
        guard texts.isEmpty != (file == nil) else { throw ValidationError("give texts as arguments or --file, not both") }
        guard !(ids && json) else { throw ValidationError("--ids and --json exclude each other") }
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let inputs = try file.map { [try InputText.read($0)] } ?? texts
        let tokenizer = try loadTokenizer(path: model)
        var out = ""
        for (index, input) in inputs.enumerated() {
            let tokens = tokenizer.encode(input, addSpecialTokens: !noSpecial)
            let pieces = tokenizer.tokens(tokens)
            if ids {
                out += tokens.map(String.init).joined(separator: ",") + "\n"
            } else if json {
                let quoted = pieces.map { JSONValue.string($0).text }.joined(separator: ", ")
                out += "{\"ids\": [\(tokens.map(String.init).joined(separator: ", "))], \"pieces\": [\(quoted)]}\n"
            } else {
                if index > 0 { out += "\n" }
                for (id, piece) in zip(tokens, pieces) { out += String(format: "%8d  %@\n", id, JSONValue.string(piece).text) }
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
