import CZlib

/// zlib's CRC-32, the checksum `.qkv` stores for its header and every tensor (Specs/qkv-format.md).
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    /// Feeds `bytes`; zlib takes 32-bit lengths, so large buffers go in 1 GiB pieces.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var left = bytes.count
        var crc = UInt(value)
        while left > 0 {
            let piece = min(left, 1 << 30)
            crc = crc32(crc, base, uInt(piece))
            base += piece
            left -= piece
        }
        value = UInt32(truncatingIfNeeded: crc)
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
