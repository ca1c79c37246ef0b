import XCTest
@testable import QKVVisualize

/// The terminal views, compared whole against what a user sees.
final class TerminalTests: XCTestCase {
    func testHead_threeTokensExact() {
        let text = AttentionTerminal.head(SyntheticReport.make(), layer: 0, head: 0)
        XCTAssertEqual(text, """
        layer 0 head 0: previous token (0.67)
        entropy 0.00 nats (0.00 of uniform) · mean distance 0.67 · update 2.00 (1.60x layer mean)
                           0 1 2  update
        0 [CLS]           ██      ███▍       1.00
        1 </script><b>&"' ██      ██████▋    2.00
        2 [SEP]             ██    ██████████ 3.00

        """)
    }

    func testHead_uniformHeadShadesEveryCellTheSame() {
        let text = AttentionTerminal.head(SyntheticReport.make(), layer: 1, head: 0)
        let rows = text.split(separator: "\n").dropFirst(3)
        XCTAssertEqual(rows.count, 3)
        for row in rows { XCTAssertTrue(row.contains("░░░░░░"), String(row)) }
    }

    func testHead_narrowWidthCutsLabelsAndCells() {
        let long = ["a-very-long-token-label-indeed", "b", "c"]
        let text = AttentionTerminal.head(SyntheticReport.make(tokens: long), layer: 1, head: 1, width: 34)
        XCTAssertTrue(text.contains("           012  update\n0 a-very-… █    ██████████ 4.00\n1 b         █              0.00\n"), text)
        XCTAssertTrue(text.split(separator: "\n").allSatisfy { TokenLabel.displayWidth(String($0)) <= 34 || $0.hasPrefix("entropy") }, text)
    }

    func testHead_colourUsesGreyRampBackgrounds() {
        let text = AttentionTerminal.head(SyntheticReport.make(), layer: 1, head: 1, colour: true)
        XCTAssertTrue(text.contains("\u{1B}[48;5;255m  \u{1B}[48;5;232m  \u{1B}[48;5;232m  \u{1B}[0m"), text)
    }

    func testHeads_gridAndTableExact() {
        XCTAssertEqual(AttentionTerminal.heads(SyntheticReport.make()), """
        synthetic.qkv: bert, 2 layers x 2 heads, 3 tokens (bidirectional)

        role  h0 h1
        L0     P  F
        L1     B  S
        P previous token · S self · N next token · F first token (sink) · L last token · O fixed offset · B broad · M mixed

        layer  head  role                score  entropy  distance  update
            0     0  previous token      0.67     0.00      0.67    1.60
            0     1  first token (sink)  1.00     0.00      1.00    0.40
            1     0  broad               1.00     1.00      0.89    1.09
            1     1  self                1.00     0.00      0.00    0.91

        """)
    }

    func testTable_sortedByUpdateAndLimited() {
        XCTAssertEqual(AttentionTerminal.table(SyntheticReport.make(), order: .update, limit: 2), """
        layer  head  role                score  entropy  distance  update
            0     0  previous token      0.67     0.00      0.67    1.60
            1     0  broad               1.00     1.00      0.89    1.09

        """)
    }

    func testTable_everyOrderKeepsEveryHead() {
        for order in AttentionTerminal.Order.allCases {
            let lines = AttentionTerminal.table(SyntheticReport.make(), order: order).split(separator: "\n")
            XCTAssertEqual(lines.count, 5, "\(order)")
        }
    }

    func testTokenLabel_visibleAndShortened() {
        XCTAssertEqual(TokenLabel.visible(" the\n"), "␣the⏎")
        XCTAssertEqual(TokenLabel.visible(""), "∅")
        XCTAssertEqual(TokenLabel.shortened("abcdef", to: 4), "abc…")
        XCTAssertEqual(TokenLabel.shortened("日本語", to: 4), "日…")
        XCTAssertEqual(TokenLabel.displayWidth("日本"), 4)
    }

    func testTextFormat_fixedIsLocaleFree() {
        XCTAssertEqual(TextFormat.fixed(1.005, 2), "1.00")   // binary 1.00499…
        XCTAssertEqual(TextFormat.fixed(-0.004, 2), "0.00")
        XCTAssertEqual(TextFormat.fixed(-2.5, 1), "-2.5")
        XCTAssertEqual(TextFormat.fixed(Double.nan, 2), "nan")
        XCTAssertEqual(TextFormat.compact(0.25, 4), "0.25")
        XCTAssertEqual(TextFormat.compact(1, 4), "1")
    }
}
