import ArgumentParser
import Foundation
import QKVFormat
import QKVInference
import QKVVisualize

struct Attention: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what every attention head does to a text: where each token looks, and how much each head changes it.",
        discussion: """
            Runs the model (BERT encoder, GPT-2 or LLaMA decoder, any format qkv reads) on the text and prints every \
            head's role (previous token, self, first token, last token, fixed offset, broad, mixed) with its score, \
            entropy, mean distance and the size of its update to the tokens relative to the layer's other heads. \
            With --layer and --head, one head's attention matrix instead (--layer alone: each head of that layer). \
            --html writes one self-contained page (a layers x heads grid; click a head to zoom, hover a token to \
            see where each head sends it); --svg and --png a figure of the chosen head, or of the whole grid; \
            --json prints every number; --npy writes the probabilities as float32 [layers, heads, tokens, tokens]. \
            --ablate [zero|mean] reruns the model once per head with that head's output removed and reports its effect \
            (decoders: the change in the text's mean log-probability; encoders: 1 - cosine of the sentence embedding); \
            --writes (decoders) reads each head's update through the final norm and the unembedding (Specs/attention.md).
            """
    )

    @Argument(help: "The model: .qkv, HDF5, .safetensors, GGUF, or a Hugging Face folder.")
    var model: String

    @Argument(help: "The text (encoded with the model's tokenizer, special tokens included).")
    var text: String?

    @Option(help: "The input as token ids, comma-separated, instead of text.")
    var ids: String?

    @Option(help: "Show this layer (from 0).")
    var layer: Int?

    @Option(help: "Show this head of --layer (from 0).")
    var head: Int?

    @Option(help: "Order of the heads table: \(AttentionTerminal.Order.allCases.map(\.rawValue).joined(separator: ", ")).")
    var sort: AttentionTerminal.Order = .layer

    @Option(help: "Show only the first N heads of the table.")
    var top: Int?

    @Option(help: "Write a self-contained HTML page here.")
    var html: String?

    @Option(help: "Write an SVG figure here (the chosen head, else the grid).")
    var svg: String?

    @Option(help: "Write a PNG figure here (the chosen head, else the grid).")
    var png: String?

    @Option(help: "Write the probabilities as .npy, float32 [layers, heads, tokens, tokens].")
    var npy: String?

    @Option(help: ArgumentHelp("Remove each head in turn and report its effect: zero (the default for a bare --ablate) or mean.",
                               valueName: "zero|mean"))
    var ablate: HeadAblation.Mode?

    @Flag(help: "Decoders: the tokens each head's update pushes toward and away from (the logit lens on one head).")
    var writes = false

    @Option(help: "Tokens each way for --writes (1...50; default 3); implies --writes.")
    var topWrites: Int?

    @Flag(help: "Print every number as JSON instead of the text view.")
    var json = false

    @Option(help: "Colour in the matrix view: auto (on a terminal, unless NO_COLOR is set), always, never.")
    var color: ColorChoice = .auto

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var hub: RevisionOptions

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

    func validate() throws {
        guard (text == nil) != (ids == nil) else { throw ValidationError("give a TEXT or --ids, not both or neither") }
        if head != nil && layer == nil { throw ValidationError("--head needs --layer") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        if let topWrites, !(1...50).contains(topWrites) { throw ValidationError("--top-writes must be 1...50") }
        if sort == .effect && ablate == nil { throw ValidationError("--sort effect needs --ablate") }
        try threading.validate()
    }

    func run() throws {
        let model = try hub.resolve(self.model)
        let context = threading.context()
        let analyzer = try AttentionAnalyzer(path: model, context: context)
        let lens = writes || topWrites != nil ? (topWrites ?? 3) : nil
        if lens != nil && !analyzer.config.isDecoder {
            throw ValidationError("--writes needs a decoder: \(model) is an encoder, which has no unembedding to read the heads through")
        }
        let report = try ids.map { try analyzer.analyze(ids: TokenIDList.parse($0), ablate: ablate, writes: lens) }
            ?? analyzer.analyze(text ?? "", ablate: ablate, writes: lens)
        let config = report.config
        if let layer, !(0..<config.layerCount).contains(layer) {
            throw ValidationError("--layer \(layer) is out of range: the model has layers 0...\(config.layerCount - 1)")
        }
        if let head, !(0..<config.headCount).contains(head) {
            throw ValidationError("--head \(head) is out of range: the model has heads 0...\(config.headCount - 1)")
        }

        if let html { try write(Data(AttentionHTML.page(report).utf8), to: html) }
        if let svg {
            let figure = layer.map { l in AttentionSVG.head(report, layer: l, head: head ?? 0) } ?? AttentionSVG.grid(report)
            try write(Data(figure.utf8), to: svg)
        }
        if let png {
            try write(layer.map { l in AttentionPNG.head(report, layer: l, head: head ?? 0) } ?? AttentionPNG.grid(report), to: png)
        }
        if let npy {
            try write(AttentionNPY.probabilities(report), to: npy)
            for (suffix, data) in AttentionNPY.companions(report) { try write(data, to: AttentionNPY.companionPath(npy, suffix)) }
        }

        let out: String
        if json {
            out = AttentionJSON.encode(report)
        } else if let layer {
            let colour = color == .always || (color == .auto && isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
            let heads = head.map { [$0] } ?? Array(0..<config.headCount)
            out = heads.map { AttentionTerminal.head(report, layer: layer, head: $0, colour: colour, width: terminalWidth()) }.joined(separator: "\n")
        } else {
            out = AttentionTerminal.heads(report, order: sort, limit: top)
        }
        FileHandle.standardOutput.write(Data((out.hasSuffix("\n") ? out : out + "\n").utf8))
    }

    /// The IOError names the file and why (exit 2).
    private func write(_ data: Data, to path: String) throws {
        try writeOutputFile(data, to: path)
    }

    /// The terminal's columns ($COLUMNS, else 100).
    private func terminalWidth() -> Int {
        var size = winsize()
        if isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
    }
}

extension AttentionTerminal.Order: ExpressibleByArgument {}
extension HeadAblation.Mode: ExpressibleByArgument {}

extension Attention {
    /// `--ablate` takes an optional mode (`--ablate`, `--ablate mean`), which argument-parser's options
    /// cannot: a bare `--ablate` of the attention command (one not followed by a mode) is given `zero`
    /// here, before parsing.
    static func givingBareAblateItsMode(_ arguments: [String]) -> [String] {
        guard arguments.first == "attention" else { return arguments }
        var out: [String] = []
        for (i, argument) in arguments.enumerated() {
            out.append(argument)
            let next = i + 1 < arguments.count ? arguments[i + 1] : nil
            if argument == "--ablate" && !HeadAblation.Mode.allCases.map(\.rawValue).contains(next ?? "") { out.append(HeadAblation.Mode.zero.rawValue) }
        }
        return out
    }
}
