/// What a shape in a figure stands for: the SVG writer turns it into a class and a tooltip, the
/// rasteriser ignores it.
enum ShapeMeaning {
    case plain
    /// Attention of `query` to `key` in one head.
    case cell(layer: Int, head: Int, query: Int, key: Int, probability: Float)
    /// The head's update norm to `token`.
    case update(token: Int, norm: Float)
    /// A swatch of the colour scale.
    case scale
}

/// Where a line of text sits relative to its anchor point.
enum TextAlign { case start, middle, end }

/// The drawing operations the figures need, so one layout draws both the SVG and the PNG.
///
/// Coordinates are pixels, y down. Text is the 5x7 bitmap font's size: a horizontal line's box is
/// (x, y) to (x + 6n − 1, y + 7); a vertical line reads bottom to top, its box 7 wide from x, its first
/// character at the bottom, ending at y.
protocol FigureCanvas {
    mutating func rect(x: Int, y: Int, width: Int, height: Int, color: RGB, meaning: ShapeMeaning)
    mutating func text(_ text: String, x: Int, y: Int, color: RGB, align: TextAlign, vertical: Bool)
    /// Starts a group of shapes that belong to one head's thumbnail.
    mutating func beginThumbnail(layer: Int, head: Int, title: String)
    mutating func endThumbnail()
}

extension FigureCanvas {
    mutating func text(_ text: String, x: Int, y: Int, color: RGB = .ink, align: TextAlign = .start) {
        self.text(text, x: x, y: y, color: color, align: align, vertical: false)
    }

    /// A 1-pixel outline around a box.
    mutating func frame(x: Int, y: Int, width: Int, height: Int, color: RGB) {
        rect(x: x, y: y, width: width, height: 1, color: color, meaning: .plain)
        rect(x: x, y: y + height - 1, width: width, height: 1, color: color, meaning: .plain)
        rect(x: x, y: y, width: 1, height: height, color: color, meaning: .plain)
        rect(x: x + width - 1, y: y, width: 1, height: height, color: color, meaning: .plain)
    }
}
