import XCTest
@testable import QKVFormat

/// The GGUF types an import records in `provenance.gguf_types` and an export writes back.
final class GGUFStoredTypeTests: XCTestCase {
    func testGGUFStoredType_namesRoundTrip() {
        for type in GGUFValueType.allCases where type != .array {
            XCTAssertEqual(GGUFStoredType(name: type.name), .scalar(type))
            XCTAssertEqual(GGUFStoredType(name: "array[\(type.name)]"), .array(type))
            XCTAssertEqual(GGUFStoredType.array(type).name, "array[\(type.name)]")
        }
        for bad in ["arr", "array[arr]", "array[u32", "u33", ""] { XCTAssertNil(GGUFStoredType(name: bad), bad) }
    }

    func testGGUFKeptValue_takesItsRecordedType() {
        XCTAssertEqual(GGUFValue(.int(7), type: .scalar(.uint16)), .uint16(7))
        XCTAssertNil(GGUFValue(.int(-1), type: .scalar(.uint32)), "does not fit")
        XCTAssertEqual(GGUFValue(.float(0.5), type: .scalar(.float32)), .float32(0.5))
        XCTAssertEqual(GGUFValue(.int64Array([1, 2]), type: .array(.uint64)), .array(.uint64([1, 2])))
        XCTAssertEqual(GGUFValue.uint32(3).converted(to: .scalar(.int64)), .int64(3))
        XCTAssertNil(GGUFValue.float32(1).converted(to: .scalar(.uint8)))
    }
}
