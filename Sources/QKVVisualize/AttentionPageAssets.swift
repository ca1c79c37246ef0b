/// The CSS and script of the HTML page (`AttentionHTML`), kept apart from the page's skeleton.
///
/// The script reads the report from `#qkv-data`, draws every thumbnail with canvas `ImageData`, and puts
/// all text on screen with `textContent`, never `innerHTML`, so no token can inject markup. It expects
/// `COLOR_STOPS` (the shared colour scale) to be defined before it.
enum AttentionPageAssets {
    static let css = #"""
    body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 24px; color: #222; background: #fff; }
    h1 { font-size: 18px; margin: 0 0 4px; word-break: break-all; }
    h2 { font-size: 15px; margin: 16px 0 6px; }
    .hint { font-weight: normal; font-size: 12px; color: #777; }
    #summary { margin: 0; color: #555; }
    #tokens { display: flex; flex-wrap: wrap; gap: 4px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
    .tok { padding: 1px 5px; border: 1px solid #ccd; border-radius: 3px; cursor: pointer; background: #f7f8fb; white-space: pre; }
    .tok.active { background: #ffe0b2; border-color: #e67e22; }
    .tok.pinned { outline: 2px solid #e67e22; }
    .tok small { color: #999; margin-right: 3px; }
    #main { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
    #grid { display: grid; gap: 6px 6px; align-items: center; justify-items: center; }
    #grid .label { font-size: 11px; color: #666; }
    .cellbox { display: flex; flex-direction: column; align-items: center; }
    canvas.thumb { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #bbb; cursor: pointer; background: #fff; }
    canvas.thumb.selected { border: 2px solid #e67e22; margin: -1px; }
    .caption { font-size: 10px; color: #555; font-family: ui-monospace, monospace; }
    #legend { font-size: 11px; color: #555; margin-top: 8px; max-width: 560px; }
    #zoom { min-width: 420px; }
    #zoom-title { margin-top: 16px; }
    #zoom-body { display: flex; gap: 16px; align-items: flex-start; }
    #zoom-matrix { border: 0; }
    #zoom-lines { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; }
    #zoom-profile table td { padding: 0 10px 0 0; font-size: 12px; }
    table { border-collapse: collapse; font-size: 12px; }
    th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #eee; }
    th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
    td.text, th.text { text-align: left; }
    tr.selected td { background: #fff1de; }
    #profiles tbody tr { cursor: pointer; }
    #profiles-section, #weights-section { max-height: 420px; overflow: auto; }
    #color-by { margin: 0 0 6px; }
    #color-by label { margin-right: 8px; }
    .caption { padding: 0 3px; border-radius: 2px; }
    #zoom-writes { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; margin-top: 6px; }
    #zoom-writes .toward { color: #1a7f37; }
    #zoom-writes .away { color: #b42318; }
    """#

    static let script = #"""
    "use strict";
    const data = JSON.parse(document.getElementById("qkv-data").textContent);
    const T = data.tokens.length, L = data.config.layers, H = data.config.heads;
    const ROLE_CODES = {"previous token": "P", "self": "S", "next token": "N", "first token (sink)": "F",
                        "last token": "L", "fixed offset": "O", "broad": "B", "mixed": "M"};
    const state = { layer: 0, head: 0, query: null, pinned: false, colorBy: data.ablation ? "effect" : "role" };

    function head(l, h) { return data.heads[l * H + h]; }
    function fixed(v, d) { return (v === null || v === undefined) ? "–" : Number(v).toFixed(d); }
    function visible(t) {
      let s = "";
      for (const ch of t) {
        const c = ch.codePointAt(0);
        if (ch === " ") s += "\u2423";
        else if (ch === "\n") s += "\u23ce";
        else if (ch === "\t") s += "\u21e5";
        else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) s += "\ufffd";
        else s += ch;
      }
      return s === "" ? "\u2205" : s;
    }
    function shorten(s, n) { const a = Array.from(s); return a.length > n ? a.slice(0, n - 1).join("") + "\u2026" : s; }
    const labels = data.tokens.map(visible);

    function color(p) {
      const x = Math.min(Math.max(p || 0, 0), 1);
      for (let k = 1; k < COLOR_STOPS.length; k++) {
        if (x <= COLOR_STOPS[k][0]) {
          const a = COLOR_STOPS[k - 1], b = COLOR_STOPS[k], t = (x - a[0]) / (b[0] - a[0]);
          return [1, 2, 3].map(i => Math.round(a[i] + (b[i] - a[i]) * t));
        }
      }
      return COLOR_STOPS[COLOR_STOPS.length - 1].slice(1);
    }
    function css(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
    function el(tag, attrs, text) {
      const e = document.createElement(tag);
      for (const k in (attrs || {})) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function roleText(h) {
      if (h.role === null) return "–";
      return h.role === "fixed offset" ? "offset " + (h.best_offset > 0 ? "+" : "") + h.best_offset : h.role;
    }

    // Tokens: hover shows where every head sends it, click pins it.
    function buildTokens() {
      const box = document.getElementById("tokens");
      labels.forEach((text, i) => {
        const span = el("span", { "class": "tok", "data-index": String(i), "title": "token " + i + ", id " + data.ids[i] });
        span.appendChild(el("small", {}, String(i)));
        span.appendChild(document.createTextNode(text));
        span.addEventListener("mouseenter", () => { if (!state.pinned) setQuery(i); });
        span.addEventListener("mouseleave", () => { if (!state.pinned) setQuery(null); });
        span.addEventListener("click", () => { state.pinned = !(state.pinned && state.query === i); setQuery(i); });
        box.appendChild(span);
      });
    }

    // The grid: layers down, heads across, one canvas per head (one pixel per cell, scaled by CSS).
    function buildGrid() {
      const grid = document.getElementById("grid");
      grid.style.gridTemplateColumns = "auto repeat(" + H + ", auto)";
      grid.appendChild(el("div", { "class": "label" }, ""));
      for (let h = 0; h < H; h++) grid.appendChild(el("div", { "class": "label" }, "h" + h));
      for (let l = 0; l < L; l++) {
        grid.appendChild(el("div", { "class": "label" }, "L" + l));
        for (let h = 0; h < H; h++) {
          const info = head(l, h);
          const box = el("div", { "class": "cellbox" });
          const c = el("canvas", { "class": "thumb", "id": "thumb-" + l + "-" + h, "data-layer": String(l), "data-head": String(h),
                                   "title": "layer " + l + " head " + h + ": " + roleText(info) });
          c.width = Math.max(T, 1); c.height = Math.max(T, 1);
          c.addEventListener("click", () => select(l, h));
          box.appendChild(c);
          box.appendChild(el("div", { "class": "caption", "id": "caption-" + l + "-" + h }, ""));
          grid.appendChild(box);
        }
      }
      paintCaptions();
    }

    // The captions under the thumbnails: the role with its score, the update relative to the layer, or
    // the ablation effect; the last two tinted by their size relative to the largest head's.
    function effectText(v) {
      if (v === null || v === undefined) return "\u2013";
      return data.ablation.metric === "mean_log_probability" ? (v > 0 ? "+" : "") + Number(v).toFixed(3) : Number(v).toExponential(1);
    }
    function paintCaptions() {
      const measure = {
        role: () => null,
        update: h => h.relative_update,
        effect: h => h.ablation ? Math.abs(h.ablation.effect) : null,
      }[state.colorBy];
      const largest = Math.max(0, ...data.heads.map(h => measure(h) || 0));
      for (const info of data.heads) {
        const c = document.getElementById("caption-" + info.layer + "-" + info.head);
        if (state.colorBy === "role") c.textContent = (ROLE_CODES[info.role] || "?") + " " + fixed(info.role_score, 2);
        else if (state.colorBy === "update") c.textContent = "u " + fixed(info.relative_update, 2);
        else c.textContent = info.ablation ? effectText(info.ablation.effect) : "\u2013";
        const v = measure(info);
        c.style.backgroundColor = v === null || largest <= 0 ? "" : "rgba(230,120,30," + (0.85 * v / largest).toFixed(3) + ")";
      }
      const legend = {
        role: Object.keys(ROLE_CODES).map(k => ROLE_CODES[k] + " " + k).join(" \u00b7 "),
        update: "update norm relative to the mean of its layer's heads",
        effect: data.ablation ? (data.ablation.metric === "mean_log_probability"
          ? "change of the text's mean log-prob (nats) with the head removed (" + data.ablation.mode + "); clean " + fixed(data.ablation.clean, 4)
          : "1 \u2212 cosine of the sentence embedding with the head removed (" + data.ablation.mode + ")") : "",
      }[state.colorBy];
      document.getElementById("legend").textContent = legend;
    }
    function buildColorBy() {
      for (const input of document.querySelectorAll("#color-by input")) {
        if (input.value === "effect" && !data.ablation) { input.disabled = true; input.parentElement.title = "run qkv attention with --ablate"; }
        input.checked = input.value === state.colorBy;
        input.addEventListener("change", () => { state.colorBy = input.value; paintCaptions(); });
      }
    }

    // A thumbnail; with a query token, the other rows fade so that row stands out in every head.
    function drawThumb(l, h) {
      const c = document.getElementById("thumb-" + l + "-" + h), ctx = c.getContext("2d");
      const img = ctx.createImageData(c.width, c.height), p = head(l, h).probabilities;
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
        let rgb = color(p[i][j]);
        if (state.query !== null && i !== state.query) rgb = rgb.map(v => Math.round(255 - (255 - v) * 0.2));
        const k = (i * c.width + j) * 4;
        img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      c.classList.toggle("selected", l === state.layer && h === state.head);
    }
    function drawThumbs() { for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) drawThumb(l, h); }

    // The zoomed head: labels, cells, update bars; the query row outlined.
    const zoom = { cell: 16, labelWidth: 80, top: 80, barWidth: 70 };
    function drawZoom() {
      const info = head(state.layer, state.head);
      document.getElementById("zoom-title").textContent =
        "Layer " + state.layer + ", head " + state.head + ": " + roleText(info) + " (" + fixed(info.role_score, 2) + ")";
      const c = document.getElementById("zoom-matrix"), ctx = c.getContext("2d");
      zoom.cell = Math.max(6, Math.min(28, Math.floor(560 / Math.max(T, 1))));
      const chars = Math.min(14, Math.max(1, ...labels.map(s => Array.from(s).length)));
      zoom.labelWidth = chars * 7.5 + 8; zoom.top = zoom.labelWidth;
      const size = zoom.cell * T;
      c.width = Math.ceil(zoom.labelWidth + size + 12 + zoom.barWidth + 40);
      c.height = Math.ceil(zoom.top + size + 8);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
      ctx.font = Math.min(12, zoom.cell) + "px ui-monospace, 'DejaVu Sans Mono', monospace";
      ctx.textBaseline = "middle";
      const x0 = zoom.labelWidth, y0 = zoom.top, p = info.probabilities;
      for (let i = 0; i < T; i++) {
        ctx.fillStyle = i === state.query ? "#e67e22" : "#333";
        ctx.textAlign = "right";
        ctx.fillText(shorten(labels[i], chars), x0 - 4, y0 + (i + 0.5) * zoom.cell);
        ctx.save(); ctx.translate(x0 + (i + 0.5) * zoom.cell, y0 - 4); ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "left"; ctx.fillStyle = "#333"; ctx.fillText(shorten(labels[i], chars), 0, 0); ctx.restore();
        for (let j = 0; j < T; j++) {
          ctx.fillStyle = css(color(p[i][j]));
          ctx.fillRect(x0 + j * zoom.cell, y0 + i * zoom.cell, zoom.cell, zoom.cell);
        }
      }
      ctx.strokeStyle = "#bbb"; ctx.strokeRect(x0 - 0.5, y0 - 0.5, size + 1, size + 1);
      if (state.query !== null) {
        ctx.strokeStyle = "#e67e22"; ctx.lineWidth = 2;
        ctx.strokeRect(x0, y0 + state.query * zoom.cell, size, zoom.cell);
        ctx.lineWidth = 1;
      }
      const u = info.updates, largest = Math.max(...u, 0), bx = x0 + size + 12;
      ctx.fillStyle = "#333"; ctx.textAlign = "left"; ctx.fillText("update", bx, y0 - 10);
      for (let i = 0; i < T; i++) {
        ctx.fillStyle = "rgb(230,120,30)";
        const w = largest > 0 ? Math.max(1, u[i] / largest * zoom.barWidth) : 0;
        ctx.fillRect(bx, y0 + i * zoom.cell + 1, w, Math.max(1, zoom.cell - 2));
      }
      drawProfile(info);
      drawLines(info);
      drawWrites(info);
    }

    // What the zoomed head's update writes at the query token (the last token when none is chosen).
    function drawWrites(info) {
      const box = document.getElementById("zoom-writes");
      while (box.firstChild) box.removeChild(box.firstChild);
      if (!info.writes) return;
      const t = state.query === null ? T - 1 : state.query, w = info.writes[t];
      box.appendChild(el("div", { "class": "hint" }, "writes at token " + t + " " + labels[t] + " (logit lens on this head's update; hover a token for another)"));
      for (const [side, sign] of [["toward", "+"], ["away", "\u2212"]]) {
        const line = el("div", { "class": side });
        line.textContent = sign + " " + w[side].map(e => visible(e.token) + " " + fixed(e.logit, 2)).join("   ");
        box.appendChild(line);
      }
    }

    // Lines from each query token (left) to the keys (right), opacity = probability; only the query
    // token's lines when one is chosen.
    function drawLines(info) {
      const svg = document.getElementById("zoom-lines"), NS = "http://www.w3.org/2000/svg";
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      const row = 18, width = 300, left = 110, right = 190;
      svg.setAttribute("width", String(width)); svg.setAttribute("height", String(row * T + 24));
      const heading = (x, anchor, text) => {
        const t = document.createElementNS(NS, "text");
        t.setAttribute("x", String(x)); t.setAttribute("y", "12"); t.setAttribute("text-anchor", anchor);
        t.setAttribute("fill", "#777"); t.textContent = text; svg.appendChild(t);
      };
      heading(left - 6, "end", "query"); heading(right + 6, "start", "key");
      const y = i => 24 + (i + 0.5) * row;
      const queries = state.query === null ? [...Array(T).keys()] : [state.query];
      for (const i of queries) for (let j = 0; j < T; j++) {
        const w = info.probabilities[i][j];
        if (w < 0.01) continue;
        const line = document.createElementNS(NS, "line");
        line.setAttribute("x1", String(left)); line.setAttribute("y1", String(y(i)));
        line.setAttribute("x2", String(right)); line.setAttribute("y2", String(y(j)));
        line.setAttribute("stroke", state.query === null ? "rgb(33,113,181)" : "rgb(230,120,30)");
        line.setAttribute("stroke-opacity", String(Math.min(1, w)));
        line.setAttribute("stroke-width", String(1 + 3 * w));
        svg.appendChild(line);
      }
      labels.forEach((text, i) => {
        for (const [x, anchor] of [[left - 6, "end"], [right + 6, "start"]]) {
          const t = document.createElementNS(NS, "text");
          t.setAttribute("x", String(x)); t.setAttribute("y", String(y(i) + 4)); t.setAttribute("text-anchor", anchor);
          t.setAttribute("fill", i === state.query ? "#e67e22" : "#333");
          t.textContent = shorten(text, 14);
          t.addEventListener("mouseenter", () => { if (!state.pinned) setQuery(i); });
          svg.appendChild(t);
        }
      });
    }

    function drawProfile(info) {
      const box = document.getElementById("zoom-profile");
      while (box.firstChild) box.removeChild(box.firstChild);
      const rows = [
        ["role", roleText(info) + " (" + fixed(info.role_score, 3) + ")"],
        ["previous / self / next", [info.previous_token, info.current_token, info.next_token].map(v => fixed(v, 3)).join(" / ")],
        ["first / last token", fixed(info.first_token, 3) + " / " + fixed(info.last_token, 3)],
        ["best other offset", (info.best_offset > 0 ? "+" : "") + info.best_offset + " (" + fixed(info.best_offset_score, 3) + ")"],
        ["entropy", fixed(info.entropy, 3) + " nats (" + fixed(info.normalized_entropy, 3) + " of uniform)"],
        ["mean distance", fixed(info.mean_distance, 2) + " tokens"],
        ["update norm", fixed(info.mean_update_norm, 3) + " mean, " + fixed(info.relative_update, 2) + "x layer mean"],
      ];
      if (info.weights) rows.push(["|W_Q| |W_K| |W_V| |W_O|", ["query", "key", "value", "output"].map(k => fixed(info.weights[k], 3)).join("  ")]);
      if (info.ablation) {
        const most = info.ablation.most_changed;
        rows.push(["ablated (" + data.ablation.mode + ")", (data.ablation.metric === "mean_log_probability"
          ? fixed(info.ablation.effect, 4) + " nats mean log-prob" + (most ? "; most: " + labels[most.position] + " @" + most.position + " " + fixed(most.delta, 3) : "")
          : Number(info.ablation.effect).toExponential(3) + " (1 \u2212 cos)")]);
      }
      const table = el("table");
      for (const [k, v] of rows) { const tr = el("tr"); tr.appendChild(el("td", { "class": "text" }, k)); tr.appendChild(el("td", { "class": "text" }, v)); table.appendChild(tr); }
      box.appendChild(table);
    }

    // Hover on the zoomed matrix: the row under the pointer becomes the query token.
    function zoomPointer(event) {
      const c = document.getElementById("zoom-matrix"), r = c.getBoundingClientRect();
      const x = (event.clientX - r.left) * c.width / r.width - zoom.labelWidth, y = (event.clientY - r.top) * c.height / r.height - zoom.top;
      const i = Math.floor(y / zoom.cell), j = Math.floor(x / zoom.cell);
      const readout = document.getElementById("zoom-readout");
      if (i < 0 || i >= T) return;
      if (j >= 0 && j < T) readout.textContent = labels[i] + " \u2192 " + labels[j] + ": " + fixed(head(state.layer, state.head).probabilities[i][j], 4);
      if (!state.pinned && i !== state.query) setQuery(i);
    }

    // Tables: every head's profile (sortable) and the weight norms.
    const profileColumns = [["layer", h => h.layer], ["head", h => h.head], ["role", h => roleText(h)], ["score", h => h.role_score],
      ["entropy", h => h.normalized_entropy], ["distance", h => h.mean_distance], ["update", h => h.mean_update_norm], ["relative", h => h.relative_update]]
      .concat(data.ablation ? [["effect", h => h.ablation.effect]] : []);
    let profileOrder = { column: 0, descending: false };
    function buildProfiles() {
      const table = document.getElementById("profiles");
      while (table.firstChild) table.removeChild(table.firstChild);
      const headerRow = el("tr");
      profileColumns.forEach(([name], k) => {
        const th = el("th", { "class": k === 2 ? "text" : "" }, name + (profileOrder.column === k ? (profileOrder.descending ? " \u25bc" : " \u25b2") : ""));
        th.addEventListener("click", () => { profileOrder = { column: k, descending: profileOrder.column === k ? !profileOrder.descending : k > 2 }; buildProfiles(); });
        headerRow.appendChild(th);
      });
      const thead = el("thead"); thead.appendChild(headerRow); table.appendChild(thead);
      const key = profileColumns[profileOrder.column][1];
      const rows = data.heads.slice().sort((a, b) => {
        const x = key(a), y = key(b);
        const c = x < y ? -1 : x > y ? 1 : (a.layer - b.layer) || (a.head - b.head);
        return profileOrder.descending ? -c : c;
      });
      const body = el("tbody");
      for (const h of rows) {
        const tr = el("tr", { "data-layer": String(h.layer), "data-head": String(h.head) });
        profileColumns.forEach(([name, f], k) => {
          const v = f(h);
          const shown = name === "effect" ? effectText(v) : typeof v === "number" && k > 2 ? fixed(v, 3) : String(v);
          tr.appendChild(el("td", { "class": k === 2 ? "text" : "" }, shown));
        });
        tr.addEventListener("click", () => select(h.layer, h.head));
        body.appendChild(tr);
      }
      table.appendChild(body);
      markRows();
    }
    function buildWeights() {
      const table = document.getElementById("weights");
      const withWeights = data.heads.filter(h => h.weights);
      if (withWeights.length === 0) { table.appendChild(el("caption", {}, "no weight norms in this report")); return; }
      const headerRow = el("tr");
      for (const name of ["layer", "head", "kv head", "|W_Q|", "|W_K|", "|W_V|", "|W_O|"]) headerRow.appendChild(el("th", {}, name));
      const thead = el("thead"); thead.appendChild(headerRow); table.appendChild(thead);
      const body = el("tbody");
      for (const h of withWeights) {
        const tr = el("tr", { "data-layer": String(h.layer), "data-head": String(h.head) });
        for (const v of [h.layer, h.head, h.kv_head]) tr.appendChild(el("td", {}, String(v)));
        for (const k of ["query", "key", "value", "output"]) tr.appendChild(el("td", {}, fixed(h.weights[k], 4)));
        tr.addEventListener("click", () => select(h.layer, h.head));
        body.appendChild(tr);
      }
      table.appendChild(body);
    }
    function markRows() {
      for (const id of ["profiles", "weights"]) {
        for (const tr of document.querySelectorAll("#" + id + " tbody tr")) {
          tr.classList.toggle("selected", Number(tr.dataset.layer) === state.layer && Number(tr.dataset.head) === state.head);
        }
      }
    }

    function select(l, h) { state.layer = l; state.head = h; drawThumbs(); drawZoom(); markRows(); }
    function setQuery(i) {
      state.query = i;
      if (i === null) state.pinned = false;
      for (const span of document.querySelectorAll("#tokens .tok")) {
        const k = Number(span.dataset.index);
        span.classList.toggle("active", k === i);
        span.classList.toggle("pinned", state.pinned && k === i);
      }
      drawThumbs(); drawZoom();
    }

    buildTokens();
    buildColorBy();
    buildGrid();
    buildProfiles();
    buildWeights();
    document.getElementById("zoom-matrix").addEventListener("mousemove", zoomPointer);
    document.getElementById("zoom-matrix").addEventListener("mouseleave", () => { if (!state.pinned) setQuery(null); });
    select(0, 0);
    document.body.setAttribute("data-ready", "true");
    """#
}
