/// An sRGB colour, 8 bits a channel: what every renderer paints a probability with.
public struct RGB: Equatable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    /// The colour of three channel values, 0 to 255.
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `#rrggbb`, for SVG and CSS.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + String([red, green, blue].flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    /// The background, and probability 0.
    public static let white = RGB(255, 255, 255)
    /// Black, for text in tests and callers' own drawings.
    public static let black = RGB(0, 0, 0)
    /// Text and axis grey.
    static let ink = RGB(40, 40, 40)
    static let faint = RGB(150, 150, 150)
    /// The bars of update norms (an orange, apart from the blues of attention).
    static let update = RGB(230, 120, 30)
}

/// The colour scale of attention probabilities, shared by the SVG, PNG and HTML figures (the HTML page
/// carries the same stops to its script) so the three show the same head the same way.
///
/// Linear in p from white (0, also masked) to dark blue (1), through ColorBrewer's "Blues" stops: a
/// sequential scale that prints in grey and where the darkest cell is where all attention goes.
public enum AttentionColor {
    /// (position, colour) stops, positions increasing from 0 to 1.
    public static let stops: [(Double, RGB)] = [
        (0.0, RGB(255, 255, 255)), (0.25, RGB(198, 219, 239)), (0.5, RGB(107, 174, 214)),
        (0.75, RGB(33, 113, 181)), (1.0, RGB(8, 48, 107)),
    ]

    /// The colour of probability `p` (clamped to 0...1; NaN paints as 0).
    public static func color(_ p: Float) -> RGB {
        let x = p.isNaN ? 0 : Double(min(max(p, 0), 1))
        for k in 1..<stops.count where x <= stops[k].0 {
            let (x0, c0) = stops[k - 1], (x1, c1) = stops[k]
            let t = (x - x0) / (x1 - x0)
            func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
            return RGB(mix(c0.red, c1.red), mix(c0.green, c1.green), mix(c0.blue, c1.blue))
        }
        return stops[stops.count - 1].1
    }
}
