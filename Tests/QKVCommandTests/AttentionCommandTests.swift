import Foundation
import XCTest

/// `qkv attention` as a user runs it: the tables, one head's matrix, the files it writes, exit codes.
extension CommandTests {
    func testAttention_headsTableListsEveryHeadOfEveryLayer() throws {
        let r = try qkv("attention", fixture("heads-roles.h5"), "--ids", "3,1,4,1,5,2,6,5,3,5")
        XCTAssertEqual(r.status, 0, r.stderr)
        // heads-roles.h5's heads are built to attend to the previous token, self, the first token, everywhere.
        let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("    0     ") }
        XCTAssertEqual(rows.count, 4, r.stdout)
        XCTAssertTrue(rows[0].contains("previous token"), String(rows[0]))
        XCTAssertTrue(rows[1].contains("self"), String(rows[1]))
        XCTAssertTrue(rows[2].contains("first token"), String(rows[2]))
        XCTAssertTrue(rows[3].contains("broad"), String(rows[3]))
    }

    func testAttention_oneHeadShowsItsMatrixAndWritesFigures() throws {
        let dir = try scratch()
        let r = try qkv("attention", fixture("hf/gpt2-tiny"), "hello world", "--layer", "1", "--head", "2",
                        "--svg", "\(dir)/h.svg", "--png", "\(dir)/h.png", "--html", "\(dir)/a.html", "--npy", "\(dir)/p.npy", "--color", "never")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("layer 1 head 2: "), r.stdout)
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/h.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertTrue(try String(contentsOfFile: "\(dir)/h.svg", encoding: .utf8).hasPrefix("<svg") ||
                      (try String(contentsOfFile: "\(dir)/h.svg", encoding: .utf8)).contains("<svg"))
        XCTAssertTrue(try String(contentsOfFile: "\(dir)/a.html", encoding: .utf8).contains("<html"))
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/p.npy")).prefix(6)), [0x93] + Array("NUMPY".utf8))
    }

    func testAttention_jsonHasEveryHead() throws {
        let r = try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,5,17,42", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["ids"] as? [Int], [1, 5, 17, 42])
        XCTAssertEqual((object["heads"] as? [Any])?.count, 2 * 4)
    }

    func testAttention_errors() throws {
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,2", "--layer", "9").status, 2, "layer out of range")
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,2", "--head", "0").status, 2, "--head needs --layer")
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny")).status, 2, "no input")
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,500").status, 1, "token outside the vocabulary")
        XCTAssertEqual(try qkv("attention", fixture("heads-roles.h5"), "text").status, 1, "no tokenizer for text")
    }

    func testAttention_ablateAndWrites_errors() throws {
        let encoder = try qkv("attention", fixture("hf/bert-tiny"), "--ids", "2,5,3", "--writes")
        XCTAssertEqual(encoder.status, 2)
        XCTAssertTrue(encoder.stderr.contains("--writes needs a decoder"), encoder.stderr)
        let sort = try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,2", "--sort", "effect")
        XCTAssertEqual(sort.status, 2)
        XCTAssertTrue(sort.stderr.contains("--sort effect needs --ablate"), sort.stderr)
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,2", "--top-writes", "0").status, 2, "--top-writes 0")
        XCTAssertEqual(try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,2", "--ablate", "half").status, 2, "unknown mode")
    }

    func testAttention_bareAblateIsZero_andTheTableHasAnEffectColumn() throws {
        let r = try qkv("attention", fixture("hf/llama-tiny"), "--ablate", "--ids", "1,5,17,42", "--sort", "effect", "--top", "3")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ablation (zero)"), r.stdout)
        let lines = r.stdout.split(separator: "\n")
        let header = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("layer  head") })
        XCTAssertTrue(lines[header].contains("effect"), String(lines[header]))
        XCTAssertEqual(lines.count - header - 1, 3)

        let json = try qkv("attention", fixture("hf/llama-tiny"), "--ids", "1,5,17,42", "--ablate", "mean", "--top-writes", "2", "--json")
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["ablation"] as? [String: Any])?["mode"] as? String, "mean")
        XCTAssertEqual(object["writes_k"] as? Int, 2)
        let head = try XCTUnwrap((object["heads"] as? [[String: Any]])?.first)
        XCTAssertNotNil((head["ablation"] as? [String: Any])?["effect"] as? Double)
        XCTAssertEqual((head["writes"] as? [Any])?.count, 4)
    }
}
