"""Check the page `qkv attention MODEL TEXT --html OUT` writes, in a real browser.

The page is rendered by headless Chromium through tools/screenshot_attention.sh: the DOM after the
page's script ran must hold the grid (one canvas.thumb per layer and head), the zoom view drawn for
layer 0 head 0, one token chip per token and the weight-norm table; the 1400x1000 screenshot must not
be blank (many colours, enough non-white pixels, the colour scale's darkest blue and the update bars'
orange on screen). The screenshot PNG is decoded here with zlib and numpy, no PIL.

The page comes from $QKV_BIN (default <repo>/.build/debug/qkv) run on the GPT-2 fixture, or from
$QKV_ATTENTION_HTML when that names an existing page (the Swift test FixtureRenderTests writes one to
<tmp>/qkv-attention/attention.html). Nothing is skipped: a missing binary, a binary without the
`attention` subcommand, or a missing Chromium fails with a message saying so.

    swift build && python3 -m pytest tools/tests/test_attention_html.py
"""

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(TOOLS_DIR)
SCREENSHOT = os.path.join(TOOLS_DIR, "screenshot_attention.sh")
MODEL = os.path.join(REPO_ROOT, "Fixtures", "hf", "gpt2-tiny")
TEXT = "the cat sat on the mat </script><b>&\"'"
WINDOW = (1400, 1000)

# The colour scale's darkest stop (probability 1) and the update bars' orange (AttentionColor.swift).
DARKEST = (8, 48, 107)
UPDATE_ORANGE = (230, 120, 30)


# ---------------------------------------------------------------------------
# Making the page
# ---------------------------------------------------------------------------

def qkv_binary():
    path = os.path.abspath(os.environ.get("QKV_BIN") or os.path.join(REPO_ROOT, ".build", "debug", "qkv"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("qkv binary missing: %s is not an executable file. Build it with `swift build` in %s, "
                    "or point QKV_BIN at it." % (path, REPO_ROOT), pytrace=False)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Path of the HTML page under test."""
    given = os.environ.get("QKV_ATTENTION_HTML")
    if given:
        if not os.path.isfile(given):
            pytest.fail("QKV_ATTENTION_HTML=%s is not a file" % given, pytrace=False)
        return given
    out = str(tmp_path_factory.mktemp("attention") / "attention.html")
    command = [qkv_binary(), "attention", MODEL, TEXT, "--html", out]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not os.path.isfile(out):
        pytest.fail("`%s` failed (exit %d), so there is no page to check; is the `qkv attention` subcommand "
                    "built into this binary? Set QKV_ATTENTION_HTML to a page to check one directly.\n"
                    "stdout:\n%s\nstderr:\n%s" % (" ".join(command), result.returncode, result.stdout, result.stderr),
                    pytrace=False)
    return out


@pytest.fixture(scope="module")
def rendered(page, tmp_path_factory):
    """(DOM after the script ran, screenshot path) from headless Chromium."""
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")) \
            and not os.environ.get("CHROMIUM"):
        pytest.fail("no Chromium on PATH: install it with `apt-get install -y chromium` "
                    "(or set CHROMIUM to a browser binary)", pytrace=False)
    out = tmp_path_factory.mktemp("shot")
    shot, dom = str(out / "shot.png"), str(out / "dom.html")
    result = subprocess.run([SCREENSHOT, page, shot, dom], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        pytest.fail("%s exited with %d:\n%s%s" % (SCREENSHOT, result.returncode, result.stdout, result.stderr),
                    pytrace=False)
    with open(dom, encoding="utf-8") as f:
        return f.read(), shot


# ---------------------------------------------------------------------------
# Reading the DOM
# ---------------------------------------------------------------------------

class Elements(HTMLParser):
    """Every element's tag, attributes and direct text, and the ids of its ancestors."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.stack = []
        self.data_text = None
        self._in_data = False

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        element = {"tag": tag, "attrs": attrs, "text": "", "ancestors": [e["attrs"].get("id") for e in self.stack]}
        self.elements.append(element)
        self._in_data = attrs.get("id") == "qkv-data"
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        self._in_data = False
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k]["tag"] == tag:
                del self.stack[k:]
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data
        if self._in_data:
            self.data_text = (self.data_text or "") + data

    def by_id(self, ident):
        found = [e for e in self.elements if e["attrs"].get("id") == ident]
        assert found, "no element with id %r" % ident
        return found[0]

    def with_class(self, name, inside=None):
        return [e for e in self.elements if name in (e["attrs"].get("class") or "").split()
                and (inside is None or inside in e["ancestors"])]


@pytest.fixture(scope="module")
def dom(rendered):
    parser = Elements()
    parser.feed(rendered[0])
    return parser


@pytest.fixture(scope="module")
def report(dom):
    assert dom.data_text, "the page has no #qkv-data"
    return json.loads(dom.data_text)


def test_dom_has_a_thumbnail_per_layer_and_head(dom, report):
    layers, heads = report["config"]["layers"], report["config"]["heads"]
    thumbs = [e for e in dom.with_class("thumb", inside="grid") if e["tag"] == "canvas"]
    assert len(thumbs) == layers * heads
    assert {(int(e["attrs"]["data-layer"]), int(e["attrs"]["data-head"])) for e in thumbs} == \
        {(l, h) for l in range(layers) for h in range(heads)}
    assert len(dom.with_class("selected", inside="grid")) == 1


def test_dom_has_the_zoom_view_drawn(dom, report):
    assert dom.by_id("zoom")
    assert dom.by_id("zoom-title")["text"].startswith("Layer 0, head 0: ")
    matrix = dom.by_id("zoom-matrix")
    assert matrix["tag"] == "canvas" and int(matrix["attrs"]["width"]) > 100 and int(matrix["attrs"]["height"]) > 100
    lines = [e for e in dom.elements if e["tag"] == "line" and "zoom-lines" in e["ancestors"]]
    assert lines, "no attention lines in the zoom view"
    assert "entropy" in "".join(e["text"] for e in dom.elements if "zoom-profile" in e["ancestors"])


def test_dom_has_tokens_profiles_and_weights(dom, report):
    tokens = dom.with_class("tok", inside="tokens")
    assert len(tokens) == len(report["tokens"])
    heads = report["config"]["layers"] * report["config"]["heads"]
    profile_rows = [e for e in dom.elements if e["tag"] == "tr" and "profiles" in e["ancestors"] and "data-layer" in e["attrs"]]
    assert len(profile_rows) == heads
    weight_rows = [e for e in dom.elements if e["tag"] == "tr" and "weights" in e["ancestors"] and "data-layer" in e["attrs"]]
    assert len(weight_rows) == heads
    assert dom.by_id("summary")["text"]


def test_hostile_tokens_stay_text(rendered, report, page):
    with open(page, encoding="utf-8") as f:
        source = f.read()
    assert source.count("</script>") == 2, "a token ended a <script> element"
    assert "<b>" not in rendered[0].split('id="qkv-data"')[0], "a token became markup"
    chips = "".join(e["text"] for e in dom_elements_in(rendered[0], "tokens"))
    assert "<" in chips and "&" in chips, "the text's < and & are not shown as text"


def dom_elements_in(html, ident):
    parser = Elements()
    parser.feed(html)
    return [e for e in parser.elements if ident in e["ancestors"]]


# ---------------------------------------------------------------------------
# The screenshot
# ---------------------------------------------------------------------------

def decode_png(path):
    """An 8-bit RGB or RGBA PNG as a numpy array [height, width, 3]; any of the five row filters."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        crc, = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "bad CRC in %r" % kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG %r" % (header,)
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    previous = np.zeros(width * bpp, dtype=np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            line = row
        elif kind == 2:
            line = (row + previous) & 0xFF
        elif kind == 1:
            line = row.reshape(width, bpp).cumsum(axis=0).reshape(-1) & 0xFF
        else:
            line = np.zeros_like(row)
            for x in range(width * bpp):
                a = int(line[x - bpp]) if x >= bpp else 0
                b = int(previous[x])
                if kind == 3:
                    line[x] = (row[x] + (a + b) // 2) & 0xFF
                else:
                    c = int(previous[x - bpp]) if x >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (row[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y] = line
        previous = line
    return out.reshape(height, width, bpp)[:, :, :3]


@pytest.fixture(scope="module")
def screenshot(rendered):
    return decode_png(rendered[1])


def near(pixels, colour, tolerance=12):
    return np.all(np.abs(pixels.astype(np.int32) - np.array(colour)) <= tolerance, axis=-1)


def test_screenshot_has_the_window_size(screenshot):
    assert screenshot.shape[1::-1] == WINDOW


def test_screenshot_is_not_blank(screenshot):
    pixels = screenshot.reshape(-1, 3)
    non_white = np.any(pixels < 245, axis=1).mean()
    assert non_white > 0.05, "only %.1f%% of the screenshot is not white" % (100 * non_white)
    colours = len(np.unique(pixels[:, 0].astype(np.int32) << 16 | pixels[:, 1].astype(np.int32) << 8 | pixels[:, 2]))
    assert colours > 50, "only %d distinct colours" % colours


def test_screenshot_shows_heatmaps_and_update_bars(screenshot):
    assert near(screenshot, UPDATE_ORANGE).sum() > 200, "no update bars on screen"
    blues = (screenshot[:, :, 2].astype(np.int32) - screenshot[:, :, 0]) > 40
    assert blues.sum() > 500, "no blue heatmap cells on screen"


# ---------------------------------------------------------------------------
# The page with --ablate and --writes (Specs/attention.md)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ablation_page(tmp_path_factory):
    """The page of `--ablate --writes` on the GPT-2 fixture, as Chromium leaves its DOM, and its source."""
    out = tmp_path_factory.mktemp("ablation")
    page, shot, dom = str(out / "ablation.html"), str(out / "shot.png"), str(out / "dom.html")
    result = subprocess.run([qkv_binary(), "attention", MODEL, TEXT, "--ablate", "--writes", "--html", page],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([SCREENSHOT, page, shot, dom], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    parser = Elements()
    with open(dom, encoding="utf-8") as f:
        parser.feed(f.read())
    with open(page, encoding="utf-8") as f:
        return parser, f.read()


def test_ablation_page_colours_captions_by_effect_and_shows_writes(ablation_page):
    dom, _ = ablation_page
    report = json.loads(dom.data_text)
    assert report["ablation"]["mode"] == "zero" and report["writes_k"] == 3
    inputs = [e for e in dom.elements if e["tag"] == "input" and "color-by" in e["ancestors"]]
    assert [e["attrs"]["value"] for e in inputs] == ["role", "update", "effect"]
    assert "disabled" not in next(e for e in inputs if e["attrs"]["value"] == "effect")["attrs"]
    captions = [e for e in dom.with_class("caption", inside="grid")]
    assert len(captions) == report["config"]["layers"] * report["config"]["heads"]
    first = next(c for c in captions if c["attrs"]["id"] == "caption-0-0")
    effect = report["heads"][0]["ablation"]["effect"]
    assert first["text"] == ("+" if effect > 0 else "") + "%.3f" % effect, first["text"]
    assert any("background-color" in (c["attrs"].get("style") or "") for c in captions), "no caption is tinted"
    headers = [e["text"].split(" ")[0] for e in dom.elements if e["tag"] == "th" and "profiles" in e["ancestors"]]
    assert "effect" in headers
    writes = [e for e in dom.elements if "zoom-writes" in e["ancestors"] and e["tag"] == "div"]
    toward = next(e for e in writes if "toward" in (e["attrs"].get("class") or ""))
    assert toward["text"].startswith("+ ") and len(toward["text"]) > 4
    assert "ablated (zero)" in "".join(e["text"] for e in dom.elements if "zoom-profile" in e["ancestors"])


def test_ablation_page_is_one_file_without_network(ablation_page):
    _, source = ablation_page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", source), "the page loads something"
    assert "fetch(" not in source and "XMLHttpRequest" not in source and "@import" not in source
    assert source.count("</script>") == 2


def test_plain_page_disables_the_effect_toggle(dom):
    effect = next(e for e in dom.elements if e["tag"] == "input" and e["attrs"].get("value") == "effect")
    assert "disabled" in effect["attrs"]
