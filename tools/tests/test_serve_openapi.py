"""`qkv serve` against its OpenAPI document (Specs/openapi.yaml), fuzzed by schemathesis: bodies that
follow the document and bodies that break it, on every operation. No answer is a 5xx, every answer
follows the document (status, headers and schema: errors in OpenAI's shape), a body the document forbids
is refused with a 4xx, another method on a served path is 405, and the server is still there after.
Bounded (a few dozen examples per operation) on the tiny fixtures, so it runs in the test command."""

import os

import hypothesis
import pytest
import schemathesis

from server_process import KEY, start_server, stop_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = int(os.environ.get("QKV_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_schema():
    fixtures = os.path.join(REPO, "Fixtures", "hf")
    process, url = start_server("bert=" + os.path.join(fixtures, "bert-tiny"), "llama=" + os.path.join(fixtures, "llama-tiny"),
                                "reranker=" + os.path.join(REPO, "Fixtures", "xlmr", "bert-reranker"), "--max-body", "65536", threads=1)
    schema = schemathesis.openapi.from_path(os.path.join(REPO, "Specs", "openapi.yaml"))
    schema.config.update(base_url=url, headers={"Authorization": "Bearer " + KEY})
    yield schema
    stop_server(process)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(hypothesis.HealthCheck), derandomize=True)
def test_every_answer_follows_the_document_and_none_is_a_server_error(case):
    # Not checked: that every body the document allows is answered 2xx. Whether one is depends on the
    # server's state, which a document cannot say: the model names served (another is 404), and the
    # context and vocabulary of the model chosen (a prompt too long or an id too large is 400).
    case.call_and_validate(timeout=60, excluded_checks=[schemathesis.checks.positive_data_acceptance])
