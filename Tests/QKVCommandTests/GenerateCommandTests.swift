import Foundation
import XCTest

/// `qkv generate` and `qkv score` as a user runs them: output, determinism, timing line, exit codes.
extension CommandTests {
    func testGenerate_greedyIsDeterministicAndPrintsTimingOnStderr() throws {
        let a = try qkv("generate", fixture("hf/gpt2-tiny"), "hello world", "--max-tokens", "12", "--ignore-eos")
        let b = try qkv("generate", fixture("hf/gpt2-tiny"), "hello world", "--max-tokens", "12", "--ignore-eos")
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertFalse(a.stdout.isEmpty)
        let last = a.stderr.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("load "), last)
        XCTAssertTrue(last.contains("generated 12 tokens in "), last)
        XCTAssertTrue(last.contains("tok/s over 11 decode steps"), last)
    }

    func testGenerate_sameSeedSameTokens_otherSeedOtherTokens() throws {
        func run(_ seed: String) throws -> String {
            let r = try qkv("generate", fixture("hf/llama-tiny"), "--prompt-ids", "1,5,17", "--max-tokens", "24", "--temperature", "1.5",
                            "--top-k", "50", "--top-p", "0.95", "--seed", seed, "--ids", "--ignore-eos", "-q")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stderr, "", "-q prints no timing")
            return r.stdout
        }
        XCTAssertEqual(try run("7"), try run("7"))
        XCTAssertNotEqual(try run("7"), try run("8"))
        XCTAssertEqual(try run("7").split(separator: " ").count, 24)
    }

    func testGenerate_onAnEncoder_exitsOneNamingTheFile() throws {
        let r = try qkv("generate", fixture("hf/bert-tiny"), "hello")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bert-tiny: cannot run this model"), r.stderr)
    }

    func testGenerate_tokenIDOutsideTheVocabulary_exitsOne() throws {
        let r = try qkv("generate", fixture("hf/llama-tiny"), "--prompt-ids", "1,999", "-q")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("token id 999 is outside the vocabulary (0..<104)"), r.stderr)
    }

    func testGenerate_usageErrors_exitTwo() throws {
        XCTAssertEqual(try qkv("generate", fixture("hf/llama-tiny")).status, 2, "no prompt")
        XCTAssertEqual(try qkv("generate", fixture("hf/llama-tiny"), "x", "--prompt-ids", "1").status, 2, "both prompts")
        XCTAssertEqual(try qkv("generate", fixture("hf/llama-tiny"), "x", "--top-p", "1.5").status, 2)
        XCTAssertEqual(try qkv("generate", fixture("hf/llama-tiny"), "--prompt-ids", "1,x").status, 2)
        XCTAssertEqual(try qkv("generate", "/nonexistent/model.qkv", "x").status, 2)
    }

    func testScore_printsPerTokenTableAndPerplexity() throws {
        let r = try qkv("score", fixture("hf/gpt2-tiny"), "hello world", "-q")
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertTrue(lines.last?.hasSuffix("perplexity " + (lines.last?.split(separator: " ").last ?? "")) ?? false)
        XCTAssertTrue(lines.last?.contains("tokens scored: mean log-prob ") ?? false, r.stdout)
    }

    func testScore_jsonAgreesWithTheTable() throws {
        let table = try qkv("score", fixture("hf/llama-tiny"), "--ids", "1,5,17,42", "-q")
        let json = try qkv("score", fixture("hf/llama-tiny"), "--ids", "1,5,17,42", "--json", "-q")
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["ids"] as? [Int], [1, 5, 17, 42])
        let logProbs = object["log_probs"] as! [Any]
        XCTAssertEqual(logProbs.count, 4)
        XCTAssertTrue(logProbs[0] is NSNull)
        let second = table.stdout.split(separator: "\n")[1].split(separator: " ")
        XCTAssertEqual(Double(second[1])!, logProbs[1] as! Double, accuracy: 1e-4)
    }

    func testScore_needsExactlyOneInput_exitTwo() throws {
        XCTAssertEqual(try qkv("score", fixture("hf/llama-tiny")).status, 2)
        XCTAssertEqual(try qkv("score", fixture("hf/llama-tiny"), "x", "--ids", "1").status, 2)
    }
}
