extension TensorView {
    /// Writes the values widened to f32 (block types dequantized as ggml does) as a NumPy `.npy` v1.0 file
    /// with this tensor's shape, atomically. Streams a row at a time, so a large embedding never has a
    /// whole f32 copy in memory. Float and block dtypes only.
    public func writeFloat32NPY(to path: String, inputs: [String] = []) throws {
        precondition(dtype.isFloat || dtype.isBlockQuantized, "npy of \(dtype) tensor '\(name)'")
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let output = try AtomicOutput(target: path, inputs: inputs)
        do {
            var prefix: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
            prefix += Array(header.utf8)
            try prefix.withUnsafeBytes { try output.write($0) }
            let columns = shape.last ?? 1, rows = columns == 0 ? 0 : info.elementCount / columns
            let rowBytes = dtype.byteCount(for: [columns])!
            var row = [Float](repeating: 0, count: columns)
            try withUnsafeBytes { bytes in
                for r in 0..<rows {
                    let source = UnsafeRawBufferPointer(rebasing: bytes[(r * rowBytes)..<((r + 1) * rowBytes)])
                    row.withUnsafeMutableBufferPointer { out in
                        if dtype.isBlockQuantized {
                            BlockQuantization.dequantize(source.baseAddress!, dtype: dtype, count: columns / dtype.blockSize, into: out.baseAddress!)
                        } else {
                            DTypeConversion.convert(source, from: dtype, to: .f32, into: UnsafeMutableRawBufferPointer(out))
                        }
                    }
                    try row.withUnsafeBytes { try output.write($0) }
                }
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }
}
