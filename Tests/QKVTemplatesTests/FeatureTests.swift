import Foundation
import XCTest
@testable import QKVTemplates

/// One small template per language feature (Fixtures/templates/features.json), against jinja2.
final class FeatureTests: XCTestCase {
    func testFeatures_matchJinja2() throws {
        let fixture = try loadFixture("features.json")
        let now = try fixtureNow(fixture)
        let cases = fixture["cases"]!.arrayValue
        XCTAssertGreaterThan(cases.count, 90)
        for c in cases {
            let name = c["name"]!.stringValue!
            let variables = Dictionary(uniqueKeysWithValues: c["variables"]!.dictValue!.pairs)
            assertOutcome(c, name) {
                try Template(c["template"]!.stringValue!).render(variables, now: now)
            }
        }
    }
}
