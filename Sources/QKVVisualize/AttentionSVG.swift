import QKVInference

/// Attention figures as standalone SVG documents (the same figures as `AttentionPNG`).
///
/// Every matrix cell is a `<rect class="cell">` with `data-query`, `data-key` and a `<title>` tooltip
/// giving the two tokens and the probability; the grid's thumbnails are `<g class="thumb">` groups.
/// Text is set in the viewer's monospace font at the bitmap font's size, all of it XML-escaped.
public enum AttentionSVG {
    /// One head: every cell of its matrix, token labels on both axes, update bars, colour scale.
    /// - Parameters:
    ///   - report: what the model's heads did, from `AttentionAnalyzer`.
    ///   - layer: the head's layer, from 0.
    ///   - head: the head within the layer, from 0.
    /// - Returns: a standalone SVG document.
    public static func head(_ report: AttentionReport, layer: Int, head: Int) -> String {
        let layout = AttentionFigures.headLayout(report)
        var canvas = SVGCanvas(tokens: report.tokens.map(TokenLabel.visible))
        AttentionFigures.drawHead(report, layer: layer, head: head, on: &canvas)
        return canvas.document(width: layout.width, height: layout.height,
                               title: "layer \(layer) head \(head) of \(report.modelPath)")
    }

    /// Every head as a thumbnail, layers down, heads across; white cells are left out.
    public static func grid(_ report: AttentionReport) -> String {
        let layout = AttentionFigures.gridLayout(report)
        var canvas = SVGCanvas(tokens: report.tokens.map(TokenLabel.visible))
        AttentionFigures.drawGrid(report, on: &canvas)
        return canvas.document(width: layout.width, height: layout.height, title: "attention heads of \(report.modelPath)")
    }
}

/// Collects figure shapes as SVG elements.
struct SVGCanvas: FigureCanvas {
    /// The visible token texts, for tooltips.
    let tokens: [String]
    private var elements: [String] = []

    init(tokens: [String]) { self.tokens = tokens }

    mutating func rect(x: Int, y: Int, width: Int, height: Int, color: RGB, meaning: ShapeMeaning) {
        let box = "x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"\(color.hex)\""
        switch meaning {
        case .plain, .scale:
            elements.append("<rect \(box)/>")
        case let .cell(_, _, query, key, p):
            let tip = "\(token(query)) → \(token(key)): \(TextFormat.fixed(p, 3))"
            elements.append("<rect class=\"cell\" data-query=\"\(query)\" data-key=\"\(key)\" \(box)><title>"
                            + TextFormat.xmlEscaped(tip) + "</title></rect>")
        case let .update(index, norm):
            elements.append("<rect class=\"update\" data-token=\"\(index)\" \(box)><title>"
                            + TextFormat.xmlEscaped("\(token(index)): update norm \(TextFormat.fixed(norm, 3))") + "</title></rect>")
        }
    }

    private func token(_ index: Int) -> String { tokens.indices.contains(index) ? tokens[index] : "#\(index)" }

    mutating func text(_ text: String, x: Int, y: Int, color: RGB, align: TextAlign, vertical: Bool) {
        guard !text.isEmpty else { return }
        let anchor = align == .start ? "" : " text-anchor=\"\(align == .middle ? "middle" : "end")\""
        // The bitmap font's box starts at the top (or, vertical, the left); SVG places the baseline.
        let position = vertical ? "x=\"\(x + 7)\" y=\"\(y)\" transform=\"rotate(-90 \(x + 7) \(y))\"" : "x=\"\(x)\" y=\"\(y + 7)\""
        let fill = color == .ink ? "" : " fill=\"\(color.hex)\""
        elements.append("<text \(position)\(anchor)\(fill)>\(TextFormat.xmlEscaped(text))</text>")
    }

    mutating func beginThumbnail(layer: Int, head: Int, title: String) {
        elements.append("<g class=\"thumb\" data-layer=\"\(layer)\" data-head=\"\(head)\"><title>\(TextFormat.xmlEscaped(title))</title>")
    }

    mutating func endThumbnail() { elements.append("</g>") }

    /// The whole document; `shape-rendering="crispEdges"` keeps cells from blurring into each other.
    func document(width: Int, height: Int, title: String) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\""
        out += " font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"9\" fill=\"\(RGB.ink.hex)\""
        out += " shape-rendering=\"crispEdges\">\n"
        out += "<title>\(TextFormat.xmlEscaped(title))</title>\n"
        out += elements.joined(separator: "\n")
        return out + "\n</svg>\n"
    }
}
