import ArgumentParser
import Foundation
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
            --json prints every number; --npy writes the probabilities as float32 [layers, heads, tokens, tokens].
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

    @Flag(help: "Print every number as JSON instead of the text view.")
    var json = false

    @Option(help: "Colour in the matrix view: auto (on a terminal, unless NO_COLOR is set), always, never.")
    var color: ColorChoice = .auto

    @OptionGroup var threading: ThreadOptions

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

    func validate() throws {
        guard (text == nil) != (ids == nil) else { throw ValidationError("give a TEXT or --ids, not both or neither") }
        if head != nil && layer == nil { throw ValidationError("--head needs --layer") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        try threading.validate()
    }

    func run() throws {
        threading.apply()
        let analyzer = try AttentionAnalyzer(path: model)
        let report = try ids.map { try analyzer.analyze(ids: TokenIDList.parse($0)) } ?? analyzer.analyze(text ?? "")
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
        if let npy { try write(AttentionNPY.probabilities(report), to: npy) }

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

    private func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ValidationError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The terminal's columns ($COLUMNS, else 100).
    private func terminalWidth() -> Int {
        var size = winsize()
        if isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
    }
}

extension AttentionTerminal.Order: ExpressibleByArgument {}
