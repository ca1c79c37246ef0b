#!/usr/bin/env python3
"""Renders, with jinja2, assistant turns that carry tool calls through every chat template in
`<shared>/chat-templates/` that renders tool calls, and writes the text of each turn (what the model
would have generated) with the calls it was made from to Fixtures/templates/tool_calls.json, for the
Swift tests of the server's tool-call parser (Tests/QKVServerTests/ToolCallTests.swift): parsing the
text with the format detected from the template must give back the calls.

    python3 tools/make_tool_call_references.py [--shared ../shared/data] [--out Fixtures/templates]

The environment is make_template_references.py's (transformers' `apply_chat_template`). The turn's text:
the conversation rendered with the assistant turn, less the conversation before it, less the part of
the generation prompt it starts with (a model writes after the generation prompt), cut at the first
end-of-turn token (generation stops there; the server never shows it). Arguments are passed to the
template as objects, or, where it fails on objects (DeepSeek R1 concatenates them), as JSON strings —
as the server passes them. Per case: `text`, the `calls` ({name, arguments}), `content` (the message's
content where the template rendered it, else null); or `skipped` with why (the template refused the
turn, or dropped a call from it). Deterministic: re-running gives the same bytes.
"""

import argparse
import json
import os

import jinja2

from make_template_references import NO_PARAMS, ROOT, SPECIAL_TOKENS, WEATHER, environment

USER = {"role": "user", "content": "What's the weather in Zürich, and find me papers on attention?"}

# (name, content, calls): each call (id, name, arguments). Mistral Nemo's template wants 9-character ids.
CASES = [
    ("one_call", None, [("call12345", "get_weather", {"city": "Zürich", "unit": "celsius"})]),
    ("two_calls", None, [
        ("call12345", "get_weather", {"city": "Paris"}),
        ("call67890", "search_documents", {"queries": ["self-attention", "say \"hi\" \\ 日本 🦙"], "filters": {"year": 2017, "score": 0.5},
                                           "limit": None, "exact": True, "meta": {"nested": {"list": [1, [2, {}]], "empty": []}}}),
    ]),
    ("content_and_call", "Let me look that up.", [("call12345", "get_weather", {"city": "Zürich", "days": 3})]),
    ("no_arguments", None, [("call12345", "now", {})]),
]

END_OF_TURN = ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<｜end▁of▁sentence｜>", "</s>"]


def assistant(content, calls, string_arguments):
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False) if string_arguments else arguments}}
            for id, name, arguments in calls
        ],
    }


def turn_text(env, source, variables, content, calls):
    """The assistant turn's text and whether arguments went in as strings, or raises what jinja2 raised."""
    template = env.from_string(source)
    before = template.render(**variables, messages=[USER], add_generation_prompt=False)
    prompt = template.render(**variables, messages=[USER], add_generation_prompt=True)[len(before):]
    error = None
    for string_arguments in (False, True):
        try:
            full = template.render(**variables, messages=[USER, assistant(content, calls, string_arguments)], add_generation_prompt=False)
            break
        except Exception as e:  # noqa: BLE001 - jinja2's and Python's errors alike; the next form is tried
            error = error or e
    else:
        raise error
    if not full.startswith(before):
        raise ValueError("the conversation's rendering changed when the assistant turn was added")
    text = full[len(before):]
    common = 0
    while common < min(len(text), len(prompt)) and text[common] == prompt[common]:
        common += 1
    # Stop where a token ends: DeepSeek R1's prompt (`<｜Assistant｜><think>\n`) and turn share a `<`.
    while 0 < common < len(prompt) and text[common - 1] not in ">\n":
        common -= 1
    text = text[common:]
    cuts = [text.find(token) for token in END_OF_TURN if token in text]
    if cuts:
        text = text[: min(cuts)]
    return text, string_arguments


def cases_for(env, name, source):
    bos, eos = SPECIAL_TOKENS[name.split("-")[0]]
    # Not SEARCH: its schema sends the Hermes template's schema macro into endless recursion.
    variables = {"bos_token": bos, "eos_token": eos, "tools": [WEATHER, NO_PARAMS], "documents": None}
    out = []
    for case_name, content, calls in CASES:
        case = {"name": case_name, "calls": [{"name": n, "arguments": a} for _, n, a in calls]}
        try:
            text, string_arguments = turn_text(env, source, variables, content, calls)
        except jinja2.exceptions.TemplateError as e:
            case["skipped"] = f"the template raised: {e}"
            out.append(case)
            continue
        except Exception as e:  # noqa: BLE001
            case["skipped"] = f"the template failed: {type(e).__name__}"
            out.append(case)
            continue
        missing = [n for _, n, _ in calls if n not in text]
        if missing:
            case["skipped"] = f"the template dropped the call to {', '.join(missing)}"
        else:
            case["text"] = text
            case["arguments_as_strings"] = string_arguments
            case["content"] = content if content and content in text else None
        out.append(case)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "templates"))
    args = parser.parse_args()
    env = environment()
    folder = os.path.join(args.shared, "chat-templates")
    templates = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            source = f.read()
        if "tool_calls" not in source:
            continue  # renders no tool calls: nothing to take apart
        templates.append({"file": name, "cases": cases_for(env, name, source)})
    payload = {"about": f"Rendered by tools/make_tool_call_references.py with jinja2 {jinja2.__version__}.", "templates": templates}
    path = os.path.join(args.out, "tool_calls.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
