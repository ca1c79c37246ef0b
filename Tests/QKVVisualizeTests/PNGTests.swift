import CZlib
import Foundation
import XCTest
@testable import QKVVisualize

/// A PNG file read back chunk by chunk, as a decoder would, with every CRC checked.
struct DecodedPNG {
    var width = 0, height = 0
    var chunkTypes: [String] = []
    /// [height, width, 3] after undoing the filters (the writer uses only filter 0).
    var pixels: [UInt8] = []

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Failure("bad signature") }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var offset = 8, idat: [UInt8] = []
        while offset < bytes.count {
            let length = u32(offset)
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let body = Array(bytes[offset + 8..<offset + 8 + length])
            let stored = u32(offset + 8 + length)
            let computed = Array(bytes[offset + 4..<offset + 8 + length]).withUnsafeBufferPointer {
                Int(crc32(0, $0.baseAddress, uInt($0.count)))
            }
            guard stored == computed else { throw Failure("CRC mismatch in \(type)") }
            chunkTypes.append(type)
            if type == "IHDR" {
                width = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                height = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                guard Array(body[8...]) == [8, 2, 0, 0, 0] else { throw Failure("unexpected IHDR \(body)") }
            }
            if type == "IDAT" { idat += body }
            offset += 12 + length
        }
        let stride = width * 3 + 1
        var raw = [UInt8](repeating: 0, count: stride * height)
        var rawLength = uLongf(raw.count)
        let status = uncompress(&raw, &rawLength, idat, uLong(idat.count))
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Failure("inflate: status \(status), \(rawLength) bytes") }
        for y in 0..<height {
            guard raw[y * stride] == 0 else { throw Failure("row \(y) has filter \(raw[y * stride])") }
            pixels += raw[y * stride + 1..<(y + 1) * stride]
        }
    }

    func pixel(_ x: Int, _ y: Int) -> RGB {
        let k = (y * width + x) * 3
        return RGB(pixels[k], pixels[k + 1], pixels[k + 2])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

final class PNGTests: XCTestCase {
    func testHead_decodesWithCellColoursWhereExpected() throws {
        let report = SyntheticReport.make()
        let png = try DecodedPNG(AttentionPNG.head(report, layer: 0, head: 1, scale: 2))
        let layout = AttentionFigures.headLayout(report)
        XCTAssertEqual(png.chunkTypes, ["IHDR", "IDAT", "IEND"])
        XCTAssertEqual(png.width, layout.width * 2)
        XCTAssertEqual(png.height, layout.height * 2)
        // The sink head: column 0 is all probability 1 (the darkest colour), the rest 0 (white).
        func centre(_ i: Int, _ j: Int) -> RGB {
            png.pixel((layout.matrixX + j * layout.cell + layout.cell / 2) * 2, (layout.matrixY + i * layout.cell + layout.cell / 2) * 2)
        }
        for i in 0..<3 {
            XCTAssertEqual(centre(i, 0), RGB(8, 48, 107))
            XCTAssertEqual(centre(i, 1), .white)
            XCTAssertEqual(centre(i, 2), .white)
        }
        XCTAssertEqual(AttentionColor.color(1), RGB(8, 48, 107))
    }

    func testHead_updateBarsScaleToTheLargest() throws {
        let report = SyntheticReport.make()
        let png = try DecodedPNG(AttentionPNG.head(report, layer: 0, head: 0, scale: 1))
        let l = AttentionFigures.headLayout(report)
        // Updates 1, 2, 3: bars of 20, 40 and 60 pixels.
        let y = { (i: Int) in l.matrixY + i * l.cell + l.cell / 2 }
        XCTAssertEqual(png.pixel(l.barsX + 59, y(2)), RGB(230, 120, 30))
        XCTAssertEqual(png.pixel(l.barsX + 19, y(0)), RGB(230, 120, 30))
        XCTAssertEqual(png.pixel(l.barsX + 21, y(0)), .white)
    }

    func testGrid_decodesWithOneThumbnailPerHead() throws {
        let report = SyntheticReport.make()
        let png = try DecodedPNG(AttentionPNG.grid(report, scale: 1))
        let g = AttentionFigures.gridLayout(report)
        XCTAssertEqual(png.width, g.width)
        XCTAssertEqual(png.height, g.height)
        // Layer 1 head 1 is the identity: dark diagonal, white elsewhere.
        let (x, y) = g.position(layer: 1, head: 1)
        XCTAssertEqual(png.pixel(x + g.cell / 2, y + g.cell / 2), RGB(8, 48, 107))
        XCTAssertEqual(png.pixel(x + 2 * g.cell + g.cell / 2, y + 2 * g.cell + g.cell / 2), RGB(8, 48, 107))
        XCTAssertEqual(png.pixel(x + g.cell + g.cell / 2, y + g.cell / 2), .white)
        // Layer 1 head 0 is uniform: every cell the colour of 1/3.
        let (ux, uy) = g.position(layer: 1, head: 0)
        XCTAssertEqual(png.pixel(ux + 1, uy + g.thumbnail - 2), AttentionColor.color(1.0 / 3))
    }

    func testFont_everyASCIIGlyphIsFiveBitsWideAndDistinct() {
        XCTAssertEqual(BitmapFont.ascii.count, 95)
        var seen = Set<[UInt8]>()
        for code in 32..<127 {
            let rows = BitmapFont.rows(Character(Unicode.Scalar(UInt8(code))))
            XCTAssertEqual(rows.count, 7)
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "glyph \(code)")
            XCTAssertTrue(seen.insert(rows).inserted, "glyph \(code) repeats another")
        }
        XCTAssertEqual(BitmapFont.rows("é"), BitmapFont.rows("\u{10FFFF}"))   // the placeholder
        XCTAssertEqual(BitmapFont.rows("␣").count, 7)
    }

    func testText_drawsGlyphPixels() {
        var raster = Raster(width: 12, height: 8)
        raster.text("I", x: 0, y: 0, color: .black, align: .start, vertical: false)
        // "I" is 0E 04 04 04 04 04 0E: top row columns 1-3, stem in column 2.
        XCTAssertEqual(raster.pixel(x: 0, y: 0), .white)
        XCTAssertEqual(raster.pixel(x: 1, y: 0), .black)
        XCTAssertEqual(raster.pixel(x: 2, y: 3), .black)
        XCTAssertEqual(raster.pixel(x: 1, y: 3), .white)
    }
}
