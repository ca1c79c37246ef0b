import QKVInference

/// An attention report as one self-contained HTML page: inline CSS, script and data, no network, no
/// external fonts, so the file can be mailed, archived or opened offline.
///
/// The page shows a layers x heads grid of thumbnails (canvas heatmaps); clicking one zooms into that
/// head (matrix with token labels, update norm bars, its profile, and lines from each query token to
/// the keys it attends to). Hovering a token (in the token strip or the zoomed matrix) highlights its
/// query row in every thumbnail and its lines in the zoom; clicking pins it. Tables list every head's
/// profile (sortable) and the stored weights' per-head norms (`qkv inspect --heads`). A toggle colours the
/// thumbnails' captions by role, update or (with `--ablate`) ablation effect; with `--writes` the zoomed
/// head's writes at the token under the pointer show below it (Specs/attention.md).
///
/// Element ids the page guarantees (tests and scripts rely on them): `summary`, `tokens`, `grid` (with
/// one `canvas.thumb` per head once the script ran), `zoom`, `zoom-title`, `zoom-matrix`, `zoom-lines`,
/// `zoom-profile`, `zoom-writes`, `color-by` (radio inputs `role`, `update`, `effect`), `profiles`,
/// `weights`, and the data in `<script type="application/json" id="qkv-data">`.
public enum AttentionHTML {
    /// The page. All text is escaped: tokens reach the page only inside the JSON (where `<`, `>` and `&`
    /// are `\u` escapes, so `</script>` cannot end the element) and are put on screen with `textContent`.
    /// - Returns: the whole HTML document: styles, script and data inline, nothing fetched.
    public static func page(_ report: AttentionReport) -> String {
        let r = report.record
        let title = "qkv attention: " + report.modelPath
        let summary = "\(report.config.family.rawValue), \(r.layerCount) layers x \(r.headCount) heads, "
            + "\(r.tokenCount) tokens, \(r.isCausal ? "causal mask" : "bidirectional")"
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(TextFormat.xmlEscaped(title))</title>
        <style>
        \(AttentionPageAssets.css)
        </style>
        </head>
        <body>
        <header>
        <h1>\(TextFormat.xmlEscaped(title))</h1>
        <p id="summary">\(TextFormat.xmlEscaped(summary))</p>
        </header>
        <section id="tokens-section">
        <h2>Tokens <span class="hint">hover a token to see where each head sends it; click to pin</span></h2>
        <div id="tokens"></div>
        </section>
        <div id="main">
        <section id="grid-section">
        <h2>Heads <span class="hint">click a thumbnail to zoom</span></h2>
        <form id="color-by" class="hint">captions:
        <label><input type="radio" name="color-by" value="role" checked> role</label>
        <label><input type="radio" name="color-by" value="update"> update</label>
        <label><input type="radio" name="color-by" value="effect"> ablation effect</label>
        </form>
        <div id="grid"></div>
        <div id="legend"></div>
        </section>
        <section id="zoom">
        <h2 id="zoom-title"></h2>
        <div id="zoom-profile"></div>
        <div id="zoom-body">
        <canvas id="zoom-matrix"></canvas>
        <svg id="zoom-lines" xmlns="http://www.w3.org/2000/svg"></svg>
        </div>
        <p id="zoom-readout" class="hint"></p>
        <div id="zoom-writes"></div>
        </section>
        </div>
        <section id="profiles-section">
        <h2>Head profiles <span class="hint">click a column to sort, a row to zoom</span></h2>
        <table id="profiles"></table>
        </section>
        <section id="weights-section">
        <h2>Weight norms <span class="hint">Frobenius norms of each head's slabs, as qkv inspect --heads</span></h2>
        <table id="weights"></table>
        </section>
        <script type="application/json" id="qkv-data">\(AttentionJSON.document(report, digits: 4))</script>
        <script>
        const COLOR_STOPS = \(colorStops);
        \(AttentionPageAssets.script)
        </script>
        </body>
        </html>

        """
    }

    /// The colour scale's stops as a JS array literal `[[p, r, g, b], ...]`.
    static var colorStops: String {
        "[" + AttentionColor.stops.map { "[\($0.0),\($0.1.red),\($0.1.green),\($0.1.blue)]" }.joined(separator: ",") + "]"
    }
}
