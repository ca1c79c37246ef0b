import QKVInference
import CZlib
import Foundation

/// Raster images as PNG files: 8-bit RGB, no interlace, every row filter 0 (none), deflated by zlib.
///
/// The file is the signature, then chunks (length, type, data, CRC-32 of type and data, all big-endian):
/// IHDR (width, height, bit depth 8, colour type 2, compression 0, filter 0, interlace 0), one IDAT with
/// the zlib stream of the filtered rows, and an empty IEND. Filter 0 keeps the writer short; the
/// figures are flat colour areas that deflate well without prediction.
enum PNGEncoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func encode(_ image: Raster) -> Data {
        var file = Data(signature)
        var header = Data()
        header.appendBigEndian(UInt32(image.width))
        header.appendBigEndian(UInt32(image.height))
        header.append(contentsOf: [8, 2, 0, 0, 0])
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", deflate(filteredRows(image)), to: &file)
        appendChunk("IEND", Data(), to: &file)
        return file
    }

    /// Each row preceded by its filter type byte, 0.
    static func filteredRows(_ image: Raster) -> [UInt8] {
        let stride = image.width * 3
        var out = [UInt8](repeating: 0, count: image.height * (stride + 1))
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<image.height {
                for k in 0..<stride { out[y * (stride + 1) + 1 + k] = pixels[y * stride + k] }
            }
        }
        return out
    }

    /// `bytes` as a zlib stream (what IDAT holds), at the default level.
    static func deflate(_ bytes: [UInt8]) -> Data {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&out, &length, bytes, uLong(bytes.count), Z_DEFAULT_COMPRESSION)
        // compress2 fails only without memory or with a too-small buffer, and compressBound rules out the latter.
        precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
        return Data(out[0..<Int(length)])
    }

    static func appendChunk(_ type: String, _ data: Data, to file: inout Data) {
        let typeBytes = Data(type.utf8)
        file.appendBigEndian(UInt32(data.count))
        file.append(typeBytes)
        file.append(data)
        file.appendBigEndian(crc(typeBytes + data))
    }

    /// zlib's CRC-32 (the one PNG specifies).
    static func crc(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, uInt($0.count))) }
    }
}

extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }
}

/// Attention figures as PNG images, drawn pixel by pixel with the built-in 5x7 font.
public enum AttentionPNG {
    /// One head: its matrix with token labels on both axes, update bars and the colour scale (the same
    /// figure as `AttentionSVG.head`).
    ///
    /// - Parameters:
    ///   - report: what the model's heads did, from `AttentionAnalyzer`.
    ///   - layer: the head's layer, from 0.
    ///   - head: the head within the layer, from 0.
    ///   - scale: pixels per figure pixel (nearest neighbour); 2 makes the labels readable.
    /// - Returns: the PNG file's bytes.
    public static func head(_ report: AttentionReport, layer: Int, head: Int, scale: Int = 2) -> Data {
        let layout = AttentionFigures.headLayout(report)
        var raster = Raster(width: layout.width, height: layout.height)
        AttentionFigures.drawHead(report, layer: layer, head: head, on: &raster)
        return PNGEncoder.encode(raster.scaled(by: scale))
    }

    /// Every head as a thumbnail, layers down, heads across (the same figure as `AttentionSVG.grid`).
    public static func grid(_ report: AttentionReport, scale: Int = 2) -> Data {
        let layout = AttentionFigures.gridLayout(report)
        var raster = Raster(width: layout.width, height: layout.height)
        AttentionFigures.drawGrid(report, on: &raster)
        return PNGEncoder.encode(raster.scaled(by: scale))
    }
}
