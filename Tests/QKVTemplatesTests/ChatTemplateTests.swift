import Foundation
import XCTest
@testable import QKVTemplates

/// Every real chat template in ../shared/data/chat-templates rendered for every conversation of
/// Fixtures/templates/chat.json, against what jinja2 (configured as transformers) rendered.
final class ChatTemplateTests: XCTestCase {
    func testChatTemplates_matchJinja2() throws {
        let fixture = try loadFixture("chat.json")
        let now = try fixtureNow(fixture)
        let templates = fixture["templates"]!.arrayValue
        XCTAssertEqual(templates.count, 8)
        var rendered = 0
        for entry in templates {
            let file = try XCTUnwrap(entry["file"]?.stringValue)
            let path = Paths.sharedData + "/chat-templates/" + file
            guard let source = try? String(contentsOfFile: path, encoding: .utf8) else {
                XCTFail("\(path) is missing: the shared data folder must sit beside the repository (or set QKV_SHARED_DATA)")
                continue
            }
            let template: Template
            do { template = try Template(source) } catch { XCTFail("\(file): \(error)"); continue }
            for c in entry["cases"]!.arrayValue {
                let name = c["name"]!.stringValue!
                let tools: [TemplateValue]? = c["tools"].flatMap { if case .array(let a) = $0 { return a } else { return nil } }
                let extra = c["extra"]!.dictValue!
                assertOutcome(c, "\(file) / \(name)") {
                    try template.renderChat(
                        messages: c["messages"]!.arrayValue,
                        tools: tools,
                        addGenerationPrompt: c["add_generation_prompt"]! .truthy,
                        extra: Dictionary(uniqueKeysWithValues: extra.pairs),
                        now: now)
                }
                rendered += 1
            }
        }
        XCTAssertEqual(rendered, 8 * 25)
    }

    /// The templates' sources themselves (no conversation): each parses.
    func testChatTemplates_parse() throws {
        let folder = Paths.sharedData + "/chat-templates"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".jinja") }
        XCTAssertEqual(files.count, 8)
        for file in files {
            XCTAssertNoThrow(try Template(String(contentsOfFile: folder + "/" + file, encoding: .utf8)), file)
        }
    }
}
