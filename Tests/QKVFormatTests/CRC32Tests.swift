import CZlib
import XCTest
@testable import QKVFormat

/// qkv's CRC-32 (carry-less multiplication, bit-by-bit tails) against zlib's crc32 on every length up to
/// several folds, at unaligned starts, fed whole and in pieces.
final class CRC32Tests: XCTestCase {
    func testCRC32_equalsZlib_forEveryLengthOffsetAndSplit() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let bytes = (0..<5000).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        bytes.withUnsafeBytes { all in
            func zlib(_ range: Range<Int>) -> UInt32 {
                UInt32(crc32(0, all.baseAddress!.assumingMemoryBound(to: UInt8.self) + range.lowerBound, uInt(range.count)))
            }
            for length in Array(0..<300) + [511, 512, 513, 1024, 4093, 4096] {
                for offset in 0..<4 {
                    let range = offset..<offset + length
                    XCTAssertEqual(CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[range])), zlib(range), "length \(length) offset \(offset)")
                }
            }
            for cut in [0, 1, 15, 16, 63, 64, 65, 1000, 2047] {
                var crc = CRC32()
                crc.update(UnsafeRawBufferPointer(rebasing: all[0..<cut]))
                crc.update(UnsafeRawBufferPointer(rebasing: all[cut..<2048]))
                XCTAssertEqual(crc.value, zlib(0..<2048), "cut at \(cut)")
            }
        }
    }
}
