"""`qkv attention --ablate` and `--writes` against PyTorch: every head's effect when removed (zero and mean)
and every head's logit-lens writes, recomputed with forward hooks on transformers' models by
tools/make_ablation_references.py (Fixtures/reference/ablation/cases.json), on the real MiniLM, the
small GPT-2 and LLaMA decoder fixtures and the tiny Gemma 3 (post norms, sliding window); and the `--npy`
files beside the probabilities (Specs/attention.md)."""

import json
import os
import subprocess

import numpy as np
import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "Fixtures", "reference", "ablation", "cases.json")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
TOLERANCE = 1e-4


def cases():
    with open(REFERENCE, encoding="utf-8") as f:
        return json.load(f)["cases"]


def path_of(spec):
    return os.path.join(CACHE, spec[len("QKV_MODELS:"):]) if spec.startswith("QKV_MODELS:") else os.path.join(REPO, spec)


def attention(case, *options):
    model = path_of(case["model"])
    if not os.path.exists(model):
        pytest.skip(f"{model} is not fetched (tools/fetch-models.sh)")
    args = [qkv_binary(), "attention", model]
    args += [case["text"]] if "text" in case else ["--ids", ",".join(map(str, case["ids"]))]
    result = subprocess.run(args + list(options), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def by_head(report):
    return {(h["layer"], h["head"]): h for h in report["heads"]}


@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("case", cases(), ids=lambda c: c["name"])
def test_ablation_effects_match_pytorch_hooks(case, mode):
    report = json.loads(attention(case, "--ablate", mode, "--json").stdout)
    assert report["ids"] == case["ids"]
    assert report["ablation"]["mode"] == mode and report["ablation"]["metric"] == case["metric"]
    want = case[mode]
    heads = by_head(report)
    assert len(heads) == len(want["effects"]) * len(want["effects"][0])
    worst = 0.0
    for layer, row in enumerate(want["effects"]):
        for head, effect in enumerate(row):
            got = heads[(layer, head)]["ablation"]
            worst = max(worst, abs(got["effect"] - effect))
            assert got["effect"] == pytest.approx(effect, abs=TOLERANCE), (layer, head)
            if case["metric"] == "mean_log_probability":
                deltas = want["token_deltas"][layer][head]
                assert got["token_deltas"][0] is None
                assert np.allclose(got["token_deltas"][1:], deltas[1:], atol=TOLERANCE), (layer, head)
                magnitudes = np.abs(deltas[1:])
                best = int(np.argmax(magnitudes)) + 1
                if len(magnitudes) < 2 or np.ptp(np.sort(magnitudes)[-2:]) > 1e-3:   # a clear winner
                    assert got["most_changed"]["position"] == best, (layer, head)
                    assert got["most_changed"]["id"] == case["ids"][best]
            else:
                assert got["token_deltas"] is None and got["most_changed"] is None
    if case["metric"] == "mean_log_probability":
        assert report["ablation"]["clean"] == pytest.approx(want["clean"], abs=TOLERANCE)
    print(case["name"], mode, "largest difference", worst)


@pytest.mark.parametrize("case", [c for c in cases() if "writes" in c], ids=lambda c: c["name"])
def test_writes_match_the_logit_lens_in_pytorch(case):
    k = case["writes_k"]
    report = json.loads(attention(case, "--top-writes", str(k), "--json").stdout)
    assert report["writes_k"] == k
    want = case["writes"]
    worst = 0.0
    for (layer, head), h in by_head(report).items():
        assert len(h["writes"]) == len(case["ids"])
        for t, position in enumerate(h["writes"]):
            for side in ("toward", "away"):
                ids = [e["id"] for e in position[side]]
                logits = np.array([e["logit"] for e in position[side]])
                want_ids = want[side + "_ids"][layer][head][t]
                want_logits = np.array(want[side + "_logits"][layer][head][t])
                worst = max(worst, float(np.abs(logits - want_logits).max()))
                assert np.allclose(logits, want_logits, atol=TOLERANCE), (layer, head, t, side)
                # The same tokens, unless two contributions are closer than float32 can order them.
                for i, (a, b) in enumerate(zip(ids, want_ids)):
                    if a != b:
                        swapped = b in ids and abs(want_logits[i] - want_logits[ids.index(b)]) < TOLERANCE
                        assert swapped or i == k - 1, (layer, head, t, side, ids, want_ids)
                assert all(isinstance(e["token"], str) for e in position[side])
    print(case["name"], "writes: largest difference", worst)


def test_npy_files_hold_the_json_numbers(tmp_path):
    case = next(c for c in cases() if c["name"] == "gpt2-saved")
    target = tmp_path / "p.npy"
    report = json.loads(attention(case, "--ablate", "--top-writes", "2", "--json", "--npy", str(target)).stdout)
    L, H, T = report["config"]["layers"], report["config"]["heads"], len(report["ids"])
    assert np.load(target).shape == (L, H, T, T)
    effects = np.load(tmp_path / "p.ablation.npy")
    deltas = np.load(tmp_path / "p.token-deltas.npy")
    writes = np.load(tmp_path / "p.writes.npy")
    ids = np.load(tmp_path / "p.write-ids.npy")
    assert effects.dtype == np.float32 and effects.shape == (L, H)
    assert deltas.shape == (L, H, T) and np.all(deltas[:, :, 0] == 0)
    assert writes.dtype == np.float32 and writes.shape == (L, H, T, 2, 2)
    assert ids.dtype == np.int32 and ids.shape == (L, H, T, 2, 2)
    for h in report["heads"]:
        l, n = h["layer"], h["head"]
        assert effects[l, n] == pytest.approx(h["ablation"]["effect"], abs=1e-6)
        assert np.allclose(deltas[l, n, 1:], h["ablation"]["token_deltas"][1:], atol=1e-6)
        for t, position in enumerate(h["writes"]):
            for s, side in enumerate(("toward", "away")):
                assert ids[l, n, t, s].tolist() == [e["id"] for e in position[side]]
                assert np.allclose(writes[l, n, t, s], [e["logit"] for e in position[side]], atol=1e-6)


def test_encoder_npy_has_no_token_deltas(tmp_path):
    case = next(c for c in cases() if c["name"] == "minilm")
    attention(case, "--ablate", "mean", "--npy", str(tmp_path / "m.npy"))
    assert np.load(tmp_path / "m.ablation.npy").shape == (6, 12)
    assert not (tmp_path / "m.token-deltas.npy").exists() and not (tmp_path / "m.writes.npy").exists()


def test_terminal_table_sorts_by_effect():
    case = next(c for c in cases() if c["name"] == "llama-saved")
    out = attention(case, "--ablate", "--sort", "effect", "--top", "3").stdout
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer  head"))
    assert "effect" in lines[header] and "most changed" in lines[header]
    rows = lines[header + 1:]
    assert len(rows) == 3
    effects = {(l, h): e for l, row in enumerate(case["zero"]["effects"]) for h, e in enumerate(row)}
    largest = sorted(effects.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:3]
    for row, ((layer, head), effect) in zip(rows, largest):
        fields = row.split()
        assert (int(fields[0]), int(fields[1])) == (layer, head), row
