import XCTest
@testable import QKVFormat

/// QKVSchema's `JSONParser` against Python's `json` module (Fixtures/json/python-json.json, made by
/// tools/make_json_references.py): the same documents accepted and refused, and the same values read
/// (integers as integers, floats to the bit, strings to the code point, object members in order with
/// duplicates kept), apart from Python's two extensions, which a strict parser refuses.
final class JSONReferenceTests: XCTestCase {
    func testParser_agreesWithPythonsJSON() throws {
        let fixture = try JSONParser.parse(readBytes(Paths.fixture("json/python-json.json")))
        let entries = try XCTUnwrap(fixture.arrayValue)
        XCTAssertGreaterThan(entries.count, 80)
        for entry in entries {
            let hex = try XCTUnwrap(entry["hex"]?.stringValue)
            let document = try XCTUnwrap(Self.bytes(hex: hex))
            let shown = String(decoding: document, as: UTF8.self).debugDescription
            let parsed = try? JSONParser.parse(document)
            let pythonAccepts = entry["python"]?.stringValue == "accept"
            if entry["constant"] != nil {
                XCTAssertNil(parsed, "\(shown): NaN and Infinity are Python's, not JSON")
            } else if let value = entry["value"], Self.hasSurrogate(value) {
                XCTAssertNil(parsed, "\(shown): a Swift String cannot hold an unpaired surrogate")
            } else if pythonAccepts {
                let got = try XCTUnwrap(parsed, "\(shown): Python accepts it")
                XCTAssertTrue(Self.same(got, try XCTUnwrap(entry["value"])), "\(shown): read as \(got.text), Python read \(entry["value"]!.text)")
            } else {
                XCTAssertNil(parsed, "\(shown): Python refuses it")
            }
        }
    }

    func testParser_refusesNestingPastItsLimit() throws {
        let deep = { (levels: Int) in Array((String(repeating: "[", count: levels) + String(repeating: "]", count: levels)).utf8) }
        XCTAssertNoThrow(try JSONParser.parse(deep(JSONParser.defaultMaxDepth)))
        XCTAssertThrowsError(try JSONParser.parse(deep(JSONParser.defaultMaxDepth + 1)))
        XCTAssertNoThrow(try JSONParser.parse(deep(512), maxDepth: 512))
        do throws(JSONSyntaxError) {
            _ = try JSONParser.parse(deep(100_000), maxDepth: 512)
            XCTFail("100000 levels parsed")
        } catch {
            XCTAssertEqual(error.offset, 512)
            XCTAssertEqual(error.reason, "nested more than 512 levels")
        }
    }

    /// Whether `got` is the value Python read, as the fixture tags it.
    static func same(_ got: JSONValue, _ python: JSONValue) -> Bool {
        guard case .object(let tagged) = python, tagged.count == 1, let (tag, want) = tagged.first.map({ ($0.key, $0.value) }) else { return false }
        switch (tag, got) {
        case ("object", .object(let members)):
            guard let pairs = want.arrayValue, pairs.count == members.count else { return false }
            return zip(members, pairs).allSatisfy { member, pair in
                guard let kv = pair.arrayValue, kv.count == 2 else { return false }
                return string(kv[0]) == member.key && same(member.value, kv[1])
            }
        case ("array", .array(let elements)):
            guard let items = want.arrayValue, items.count == elements.count else { return false }
            return zip(elements, items).allSatisfy { same($0, $1) }
        case ("string", .string(let text)): return string(want) == text
        case ("int", .number(let digits)):
            // Python's int of "-0" is 0; JSON allows no other spelling of an integer but its own digits.
            return !digits.contains(where: { ".eE".contains($0) }) && (digits == "-0" ? "0" : digits) == want.stringValue
        case ("float", .number(let digits)):
            guard let mine = Double(digits), let theirs = want.stringValue.flatMap(Double.init) else { return false }
            return digits.contains(where: { ".eE".contains($0) }) && mine.bitPattern == theirs.bitPattern
        case ("bool", .bool(let flag)): return want.int64Value == (flag ? 1 : 0)
        case ("null", .null): return true
        default: return false
        }
    }

    /// A string the fixture spells as its code points.
    static func string(_ codePoints: JSONValue) -> String? {
        guard let list = codePoints.arrayValue else { return nil }
        var scalars = String.UnicodeScalarView()
        for point in list {
            guard let value = point.uint64Value.flatMap({ UInt32(exactly: $0) }), let scalar = Unicode.Scalar(value) else { return nil }
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// Whether a tagged value has a string with a code point in D800-DFFF anywhere.
    static func hasSurrogate(_ tagged: JSONValue) -> Bool {
        switch tagged {
        case .object(let members): return members.contains { hasSurrogate($0.value) }
        // Bare numbers in the fixture are only ever code points (its integers are tagged text).
        case .array(let items): return items.contains { (0xD800...0xDFFF).contains($0.int64Value ?? 0) || hasSurrogate($0) }
        default: return false
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16) }
            .reduce(into: [UInt8]?([])) { out, byte in if let byte { out?.append(byte) } else { out = nil } }
    }
}
