/// An RGB image in memory, 8 bits a channel, row by row from the top: what the PNG figures are drawn
/// into before encoding.
struct Raster: FigureCanvas {
    let width: Int
    let height: Int
    /// [height, width, 3].
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int, background: RGB = .white) {
        self.width = max(width, 1)
        self.height = max(height, 1)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for k in 0..<(self.width * self.height) { set(k, background) }
    }

    func pixel(x: Int, y: Int) -> RGB {
        let k = (y * width + x) * 3
        return RGB(pixels[k], pixels[k + 1], pixels[k + 2])
    }

    private mutating func set(_ index: Int, _ color: RGB) {
        pixels[index * 3] = color.red
        pixels[index * 3 + 1] = color.green
        pixels[index * 3 + 2] = color.blue
    }

    /// Sets one pixel; points outside the image are ignored, so figures may draw past an edge.
    mutating func plot(x: Int, y: Int, _ color: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        set(y * width + x, color)
    }

    mutating func rect(x: Int, y: Int, width w: Int, height h: Int, color: RGB, meaning: ShapeMeaning) {
        let x0 = max(x, 0), y0 = max(y, 0), x1 = min(x + w, width), y1 = min(y + h, height)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for column in x0..<x1 { set(row * width + column, color) }
        }
    }

    mutating func text(_ text: String, x: Int, y: Int, color: RGB, align: TextAlign, vertical: Bool) {
        let length = BitmapFont.width(text)
        let shift = align == .start ? 0 : (align == .middle ? length / 2 : length)
        for (k, character) in text.enumerated() {
            let rows = BitmapFont.rows(character)
            for (gy, bits) in rows.enumerated() {
                for gx in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(gx)) != 0 {
                    let along = k * BitmapFont.advance + gx - shift
                    if vertical {
                        plot(x: x + gy, y: y - along, color)
                    } else {
                        plot(x: x + along, y: y + gy, color)
                    }
                }
            }
        }
    }

    mutating func beginThumbnail(layer: Int, head: Int, title: String) {}
    mutating func endThumbnail() {}

    /// The image with every pixel repeated `factor` times across and down (nearest neighbour), so the
    /// 5x7 labels stay crisp at a readable size.
    func scaled(by factor: Int) -> Raster {
        guard factor > 1 else { return self }
        var out = Raster(width: width * factor, height: height * factor)
        for y in 0..<out.height {
            for x in 0..<out.width {
                let source = ((y / factor) * width + x / factor) * 3, target = (y * out.width + x) * 3
                out.pixels[target] = pixels[source]
                out.pixels[target + 1] = pixels[source + 1]
                out.pixels[target + 2] = pixels[source + 2]
            }
        }
        return out
    }
}
