"""Tools in `qkv serve`'s /v1/chat/completions, driven by the official `openai` client: the prompt a
request with `tools`, `tool_choice`, assistant `tool_calls` and `tool` messages makes is the one jinja2
renders (as transformers' apply_chat_template, with the calls' JSON-string arguments parsed to objects
as llama-server passes them), counted in tokens by the server's own tokenizer of that text.

The model is Fixtures/hf/llama-tiny with the real Qwen 2.5, Mistral Nemo and Llama 3.2 templates (and
Gemma 2's, which knows no tools) and 2048 positions (RoPE: no weight depends on the count), since tool
prompts are long in its 104-token vocabulary. It writes no real tool calls: parsing them is tested
against jinja2's renderings in Tests/QKVServerTests/ToolCallTests.swift.
"""

import copy
import json
import os
import shutil
import sys

import openai
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from make_template_references import environment  # noqa: E402
from test_serve import KEY, REPO, SHARED, http, start_server  # noqa: E402

TEMPLATES = {
    "qwen": "Qwen-Qwen2.5-7B-Instruct.jinja",
    "mistral": "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "llama32": "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "gemma": "google-gemma-2-2b-it.jinja",
}

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city."}}, "required": ["city"]},
    },
}

# A finished round: the call as OpenAI clients send it back (arguments a JSON string), and its result.
# Mistral Nemo's template wants 9-character ids.
ROUND = [
    {"role": "user", "content": "Weather in Zürich?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Zürich\"}"}}]},
    {"role": "tool", "tool_call_id": "call12345", "content": "{\"temperature\": 21}"},
]


def model_folder(folder, template):
    """llama-tiny with `template` and 2048 positions."""
    shutil.copytree(os.path.join(REPO, "Fixtures", "hf", "llama-tiny"), folder)
    for name, changes in [("config.json", {"max_position_embeddings": 2048}),
                          ("tokenizer_config.json", {"model_max_length": 2048, "chat_template": template})]:
        path = os.path.join(folder, name)
        config = json.load(open(path))
        config.update(changes)
        json.dump(config, open(path, "w"))
    return folder


def template_source(name):
    return open(os.path.join(SHARED, "chat-templates", TEMPLATES[name])).read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = [f"{name}=" + model_folder(str(tmp_path_factory.mktemp(name) / name), template_source(name)) for name in TEMPLATES]
    process, url = start_server(*models)
    yield url
    process.terminate()
    assert process.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY)


def with_object_arguments(messages):
    """The messages as llama-server hands them to a template: tool-call arguments parsed."""
    messages = copy.deepcopy(messages)
    for message in messages:
        for call in message.get("tool_calls") or []:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return messages


def prompt_tokens(server, model, messages, tools):
    """How many tokens the server's tokenizer makes of the prompt jinja2 renders."""
    text = environment().from_string(template_source(model)).render(
        messages=messages, tools=tools, documents=None, add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
    status, body = http(server + "/tokenize", {"model": model, "content": text, "add_special": False})
    assert status == 200
    return len(body["tokens"])


@pytest.mark.parametrize("model", ["qwen", "mistral", "llama32"])
def test_tool_choice_auto_and_none_render_as_jinja2(client, server, model):
    messages = [{"role": "user", "content": "Weather in Zürich?"}]
    with_tools = prompt_tokens(server, model, messages, [WEATHER])
    without = prompt_tokens(server, model, messages, None)
    assert with_tools > without
    for choice, want in [(None, with_tools), ("auto", with_tools), ("none", without)]:
        extra = {} if choice is None else {"tool_choice": choice}
        reply = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER], max_tokens=3, temperature=0, **extra)
        assert reply.usage.prompt_tokens == want, choice
        assert reply.choices[0].finish_reason in ("stop", "length")   # the tiny model writes no call
        assert reply.choices[0].message.tool_calls is None


@pytest.mark.parametrize("model", ["qwen", "mistral", "llama32"])
def test_tool_round_renders_with_arguments_as_objects(client, server, model):
    want = prompt_tokens(server, model, with_object_arguments(ROUND), [WEATHER])
    reply = client.chat.completions.create(model=model, messages=ROUND, tools=[WEATHER], max_tokens=3, temperature=0)
    assert reply.usage.prompt_tokens == want
    assert reply.choices[0].message.role == "assistant"


def test_streamed_reply_with_tools_equals_the_whole_one(client):
    # Text that might open a call waits for the end of the reply; none of it may be lost or repeated.
    for model in ["qwen", "mistral", "llama32"]:
        whole = client.chat.completions.create(model=model, messages=ROUND, tools=[WEATHER], max_tokens=12, temperature=0)
        chunks = list(client.chat.completions.create(model=model, messages=ROUND, tools=[WEATHER], max_tokens=12, temperature=0, stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == (whole.choices[0].message.content or "")
        assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_template_without_tools_gets_them_in_a_message(client, server):
    # Gemma 2's template knows no tools and refuses system messages: llama.cpp's "Respond in JSON format"
    # instruction, with the tools, opens the first user message instead.
    messages = [{"role": "user", "content": "Weather in Zürich?"}]
    plain = client.chat.completions.create(model="gemma", messages=messages, max_tokens=2, temperature=0)
    assert plain.usage.prompt_tokens == prompt_tokens(server, "gemma", messages, None)
    tooled = client.chat.completions.create(model="gemma", messages=messages, tools=[WEATHER], max_tokens=2, temperature=0)
    assert tooled.usage.prompt_tokens > plain.usage.prompt_tokens
    none = client.chat.completions.create(model="gemma", messages=messages, tools=[WEATHER], tool_choice="none", max_tokens=2, temperature=0)
    assert none.usage.prompt_tokens == plain.usage.prompt_tokens


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}, "sometimes", 3])
def test_tool_choice_that_forces_a_call_is_refused(server, choice):
    status, body = http(server + "/v1/chat/completions", {"model": "qwen", "messages": ROUND[:1], "tools": [WEATHER], "tool_choice": choice})
    assert status == 400
    assert body["error"]["param"] == "tool_choice" and "tool_choice" in body["error"]["message"]


def test_tool_choice_required_refused_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="qwen", messages=ROUND[:1], tools=[WEATHER], tool_choice="required", max_tokens=2)
    assert "tool_choice" in str(refused.value)


@pytest.mark.parametrize("tools", [{"type": "function"}, [{"type": "function"}], [{"type": "retrieval", "function": {"name": "x"}}], ["get_weather"]])
def test_malformed_tools_are_refused(server, tools):
    status, body = http(server + "/v1/chat/completions", {"model": "qwen", "messages": ROUND[:1], "tools": tools})
    assert status == 400 and body["error"]["param"] == "tools"


def test_completions_still_refuse_tool_choice(server):
    status, body = http(server + "/v1/completions", {"model": "qwen", "prompt": "hi", "tool_choice": "auto"})
    assert status == 400 and body["error"]["param"] == "tool_choice"

