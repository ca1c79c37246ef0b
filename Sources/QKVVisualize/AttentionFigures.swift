import QKVInference

/// The two figures of an attention report, laid out once and drawn on any `FigureCanvas`: the SVG and
/// PNG renderers share this geometry, so both show the same picture.
enum AttentionFigures {
    static let padding = 10
    static let gap = 6
    static let lineHeight = BitmapFont.lineHeight
    static let advance = BitmapFont.advance

    // MARK: One head

    /// The size and positions of one head's figure.
    struct HeadLayout {
        let tokenCount: Int
        let labelCharacters: Int
        let cell: Int
        let matrixX: Int, matrixY: Int
        let barsX: Int, barsWidth: Int
        let scaleX: Int
        let width: Int, height: Int

        var matrixSize: Int { cell * tokenCount }
        var labelWidth: Int { labelCharacters * BitmapFont.advance }
    }

    /// Cells of 8 to 16 pixels (8 keeps a label per row legible), labels of up to 12 characters.
    static func headLayout(_ report: AttentionReport) -> HeadLayout {
        let T = report.record.tokenCount
        let labels = report.tokens.map(TokenLabel.visible)
        let labelCharacters = min(12, max(1, labels.map(\.count).max() ?? 1))
        let cell = max(8, min(16, 400 / max(T, 1)))
        let labelWidth = labelCharacters * advance
        let matrixX = padding + labelWidth + gap
        let matrixY = padding + 2 * lineHeight + gap + labelWidth + gap
        let barsX = matrixX + cell * T + 2 * gap, barsWidth = 60
        let scaleX = barsX + barsWidth + 3 * gap
        let width = scaleX + 10 + gap + 4 * advance + padding
        let height = matrixY + cell * max(T, 1) + padding + lineHeight
        return HeadLayout(tokenCount: T, labelCharacters: labelCharacters, cell: cell, matrixX: matrixX, matrixY: matrixY,
                          barsX: barsX, barsWidth: barsWidth, scaleX: scaleX, width: width, height: height)
    }

    /// Title, token labels on both axes (queries left, keys above, read upwards), every cell of the
    /// matrix, the update norm bars and the colour scale.
    static func drawHead<C: FigureCanvas>(_ report: AttentionReport, layer: Int, head: Int, on canvas: inout C) {
        let l = headLayout(report)
        let T = l.tokenCount
        let labels = report.tokens.map { TokenLabel.shortened(TokenLabel.visible($0), to: l.labelCharacters) }
        canvas.rect(x: 0, y: 0, width: l.width, height: l.height, color: .white, meaning: .plain)
        for (k, line) in headTitle(report, layer: layer, head: head).enumerated() {
            canvas.text(line, x: padding, y: padding + k * lineHeight)
        }
        let matrix = Array(report.record.matrix(layer: layer, head: head))
        let centre = (l.cell - BitmapFont.glyphHeight + 1) / 2
        for i in 0..<T {
            let y = l.matrixY + i * l.cell
            canvas.text(labels[i], x: l.matrixX - gap / 2, y: y + centre, align: .end)
            canvas.text(labels[i], x: l.matrixX + i * l.cell + centre, y: l.matrixY - gap, color: .ink, align: .start, vertical: true)
            for j in 0..<T {
                let p = matrix[i * T + j]
                canvas.rect(x: l.matrixX + j * l.cell, y: y, width: l.cell, height: l.cell, color: AttentionColor.color(p),
                            meaning: .cell(layer: layer, head: head, query: i, key: j, probability: p))
            }
        }
        canvas.frame(x: l.matrixX - 1, y: l.matrixY - 1, width: l.matrixSize + 2, height: l.matrixSize + 2, color: .faint)
        drawUpdates(report, layer: layer, head: head, layout: l, on: &canvas)
        drawScale(x: l.scaleX, y: l.matrixY, height: max(l.matrixSize, 40), on: &canvas)
    }

    /// `layer L head H: role (score)` and `entropy · distance · update`.
    static func headTitle(_ report: AttentionReport, layer: Int, head: Int) -> [String] {
        guard let p = report.profile(layer: layer, head: head) else { return ["layer \(layer) head \(head)", ""] }
        return [
            "layer \(layer) head \(head): \(AttentionTerminal.roleText(p)) (\(TextFormat.fixed(p.roleScore, 2)))",
            "entropy \(TextFormat.fixed(p.normalizedEntropy, 2)) · distance \(TextFormat.fixed(p.meanDistance, 2))"
                + " · update \(TextFormat.fixed(p.relativeUpdate, 2))x layer mean",
        ]
    }

    /// One bar per query token: the head's update norm, scaled to the head's largest.
    static func drawUpdates<C: FigureCanvas>(_ report: AttentionReport, layer: Int, head: Int, layout l: HeadLayout,
                                             on canvas: inout C) {
        let updates = Array(report.record.updates(layer: layer, head: head))
        let largest = updates.max() ?? 0
        canvas.text("update", x: l.barsX, y: l.matrixY - gap - lineHeight)
        for (i, norm) in updates.enumerated() {
            let fraction = largest > 0 && norm.isFinite ? Double(max(0, norm) / largest) : 0
            let length = max(norm > 0 ? 1 : 0, Int((fraction * Double(l.barsWidth)).rounded()))
            canvas.rect(x: l.barsX, y: l.matrixY + i * l.cell + 1, width: length, height: max(1, l.cell - 2),
                        color: .update, meaning: .update(token: i, norm: norm))
        }
    }

    /// A vertical colour bar from 1 (top) to 0 (bottom), labelled 1, 0.5 and 0.
    static func drawScale<C: FigureCanvas>(x: Int, y: Int, height: Int, on canvas: inout C) {
        let steps = 20
        for k in 0..<steps {
            let top = y + k * height / steps, bottom = y + (k + 1) * height / steps
            let p = 1 - (Float(k) + 0.5) / Float(steps)
            canvas.rect(x: x, y: top, width: 10, height: bottom - top, color: AttentionColor.color(p), meaning: .scale)
        }
        canvas.frame(x: x - 1, y: y - 1, width: 12, height: height + 2, color: .faint)
        canvas.text("1", x: x + 10 + gap, y: y)
        canvas.text("0.5", x: x + 10 + gap, y: y + height / 2 - BitmapFont.glyphHeight / 2)
        canvas.text("0", x: x + 10 + gap, y: y + height - BitmapFont.glyphHeight)
    }

    // MARK: All heads

    /// The size and positions of the layers x heads grid.
    struct GridLayout {
        let layers: Int, heads: Int, tokenCount: Int
        /// Pixels per matrix cell in a thumbnail, and the thumbnail's side.
        let cell: Int, thumbnail: Int
        let originX: Int, originY: Int
        /// From one thumbnail to the next, with its caption.
        let stepX: Int, stepY: Int
        let width: Int, height: Int

        func position(layer: Int, head: Int) -> (x: Int, y: Int) {
            (originX + head * stepX, originY + layer * stepY)
        }
    }

    /// Thumbnails of about 64 pixels (at least one pixel a cell), each with a caption line below.
    static func gridLayout(_ report: AttentionReport) -> GridLayout {
        let r = report.record
        let T = max(r.tokenCount, 1)
        let cell = max(1, 64 / T)
        let thumbnail = max(cell * T, 5 * advance)
        let labelWidth = (String(max(r.layerCount - 1, 0)).count + 1) * advance
        let originX = padding + labelWidth + gap
        let originY = padding + lineHeight + gap + lineHeight + gap
        let stepX = thumbnail + 2 * gap, stepY = thumbnail + lineHeight + 2 * gap
        return GridLayout(layers: r.layerCount, heads: r.headCount, tokenCount: r.tokenCount, cell: cell, thumbnail: thumbnail,
                          originX: originX, originY: originY, stepX: stepX, stepY: stepY,
                          width: max(originX + r.headCount * stepX - gap + padding, padding * 2 + BitmapFont.width(gridTitle(report))),
                          height: originY + r.layerCount * stepY - gap + padding)
    }

    static func gridTitle(_ report: AttentionReport) -> String {
        let r = report.record
        return "\(report.config.family.rawValue): \(r.layerCount) layers x \(r.headCount) heads, \(r.tokenCount) tokens"
    }

    /// A title, head numbers above and layer numbers left, and per head a thumbnail of its matrix with
    /// its role code and score below. Cells whose colour is white are not drawn (the thumbnail's
    /// background is white), which keeps big grids' SVG small.
    static func drawGrid<C: FigureCanvas>(_ report: AttentionReport, on canvas: inout C) {
        let g = gridLayout(report)
        let T = g.tokenCount
        canvas.rect(x: 0, y: 0, width: g.width, height: g.height, color: .white, meaning: .plain)
        canvas.text(gridTitle(report), x: padding, y: padding)
        for head in 0..<g.heads {
            canvas.text("h\(head)", x: g.position(layer: 0, head: head).x + g.thumbnail / 2, y: g.originY - gap - lineHeight + 1, align: .middle)
        }
        for layer in 0..<g.layers {
            canvas.text("L\(layer)", x: g.originX - gap, y: g.position(layer: layer, head: 0).y + g.thumbnail / 2 - 4, align: .end)
            for head in 0..<g.heads {
                let (x, y) = g.position(layer: layer, head: head)
                let profile = report.profile(layer: layer, head: head)
                let caption = profile.map { "\(AttentionTerminal.roleCodes[$0.role].map(String.init) ?? "?") \(TextFormat.fixed($0.roleScore, 2))" } ?? ""
                canvas.beginThumbnail(layer: layer, head: head, title: "layer \(layer) head \(head)"
                                      + (profile.map { ": " + AttentionTerminal.roleText($0) } ?? ""))
                canvas.rect(x: x, y: y, width: g.thumbnail, height: g.thumbnail, color: .white, meaning: .plain)
                let matrix = Array(report.record.matrix(layer: layer, head: head))
                for i in 0..<T {
                    for j in 0..<T {
                        let p = matrix[i * T + j], color = AttentionColor.color(p)
                        guard color != .white else { continue }
                        canvas.rect(x: x + j * g.cell, y: y + i * g.cell, width: g.cell, height: g.cell, color: color,
                                    meaning: .cell(layer: layer, head: head, query: i, key: j, probability: p))
                    }
                }
                canvas.frame(x: x - 1, y: y - 1, width: g.thumbnail + 2, height: g.thumbnail + 2, color: .faint)
                canvas.text(caption, x: x, y: y + g.thumbnail + gap / 2 + 1, color: .ink)
                canvas.endThumbnail()
            }
        }
    }
}
