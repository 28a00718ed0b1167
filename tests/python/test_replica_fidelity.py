"""Fidelity: the real `openai` Python SDK against the replica server.

The server is `$HH_COMPAT_BIN replica serve` (default: target/debug/hh-compat under
CARGO_TARGET_DIR or ./target). `cargo test` runs this file through tests/python_fidelity.rs,
which points HH_COMPAT_BIN at the binary it just built.
"""

import base64
import json
import os
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import openai
import pytest
from openai import AzureOpenAI, OpenAI

KEY = "py-fidelity-key"
API_VERSION = "2024-10-21"
SCOPE = "x-hh-compat-scope"


def _server_command():
    binary = os.environ.get("HH_COMPAT_BIN")
    if not binary:
        target = Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).resolve().parents[2] / "target"))
        binary = str(target / "debug" / "hh-compat")
    return [binary, "replica", "serve",
        "--api-key", KEY,
        "--deployment", "gpt-4o=gpt-4o-2024-08-06",
        "--deployment", "text-embedding-3-small=text-embedding-3-small",
        "--deployment", "gpt-5-mini=gpt-5-mini-2025-08-07",
        "--deployment", "limited=gpt-4o-2024-08-06",
        "--deployment", "filtered=gpt-4o-2024-08-06",
        "--fault", "limited=rate_limit,times=2,retry_after_ms=50",
        "--fault", "filtered=prompt_filter",
    ]


@pytest.fixture(scope="module")
def base_url():
    proc = subprocess.Popen(_server_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("http://"), f"first line is not a URL: {first!r} / {proc.stderr.read()}"
        yield first
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, "the server exits 0 on SIGTERM"
        rest = proc.stdout.read()
        assert KEY not in first + rest, "the key is never printed"


def azure(base_url, **kwargs):
    kwargs.setdefault("api_key", KEY)
    return AzureOpenAI(azure_endpoint=base_url, api_version=API_VERSION, max_retries=0, **kwargs)


def journal(base_url, scope):
    with urllib.request.urlopen(f"{base_url}/_replica/journal?scope={scope}") as r:
        return json.load(r)


def ask(client, model="gpt-4o", **kwargs):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello there"}], **kwargs)


def test_chat(base_url):
    r = ask(azure(base_url))
    assert r.model == "gpt-4o-2024-08-06"
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].message.content
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.prompt_filter_results[0]["prompt_index"] == 0  # Azure's extra field survives


def test_stream_first_chunk_empty_and_text_reassembled(base_url):
    client = azure(base_url)
    expected = ask(client).choices[0].message.content
    chunks = list(ask(client, stream=True))
    assert chunks[0].choices == [] and chunks[0].id == "" and chunks[0].model == ""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected
    assert all(c.usage is None for c in chunks)


def test_stream_include_usage(base_url):
    chunks = list(ask(azure(base_url), stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def test_embeddings_base64_default_matches_float(base_url):
    client = azure(base_url)
    # The SDK asks for base64 by default and decodes it to floats itself.
    default = client.embeddings.create(model="text-embedding-3-small", input="vector me")
    floats = client.embeddings.create(model="text-embedding-3-small", input="vector me", encoding_format="float")
    assert len(default.data[0].embedding) == 1536
    as_f32 = [struct.unpack("<f", struct.pack("<f", x))[0] for x in floats.data[0].embedding]
    assert default.data[0].embedding == as_f32
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="vector me", encoding_format="base64"
    )
    encoded = json.loads(raw.text)["data"][0]["embedding"]
    decoded = list(struct.unpack(f"<{1536}f", base64.b64decode(encoded)))
    assert decoded == as_f32


def test_embeddings_dimensions(base_url):
    r = azure(base_url).embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=256)
    assert [len(d.embedding) for d in r.data] == [256, 256]
    assert r.data[0].embedding != r.data[1].embedding


def test_unknown_deployment_is_not_found(base_url):
    # Azure's 2026 body: pretty-printed, typed, without a content type, and no x-request-id.
    with pytest.raises(openai.NotFoundError) as e:
        ask(azure(base_url), model="missing")
    assert e.value.status_code == 404
    assert e.value.code == "DeploymentNotFound"
    assert e.value.type == "invalid_request_error"
    assert e.value.message.startswith("Error code: 404 - The API deployment for this resource does not exist.")
    assert e.value.request_id is None
    assert "content-type" not in e.value.response.headers
    assert e.value.response.text.startswith('{\n  "error": {\n')


def test_wrong_key_is_authentication_error(base_url):
    with pytest.raises(openai.AuthenticationError) as e:
        ask(azure(base_url, api_key="wrong"))
    assert e.value.status_code == 401


def test_azure_ad_token_accepted(base_url):
    client = AzureOpenAI(
        azure_endpoint=base_url, api_version=API_VERSION, azure_ad_token="eyJ0eXAi.eyJhdWQi.c2lnbmF0dXJl", max_retries=0,
        default_headers={SCOPE: "py-entra"},
    )
    assert ask(client).model == "gpt-4o-2024-08-06"
    assert [e["auth"] for e in journal(base_url, "py-entra")] == ["bearer"]


def test_rate_limit_retried_honouring_retry_after_ms(base_url):
    client = AzureOpenAI(
        azure_endpoint=base_url, api_key=KEY, api_version=API_VERSION, max_retries=2,
        default_headers={SCOPE: "py-429"},
    )
    started = time.monotonic()
    r = ask(client, model="limited")
    elapsed = time.monotonic() - started
    assert r.model == "gpt-4o-2024-08-06"
    attempts = journal(base_url, "py-429")
    assert [e["status"] for e in attempts] == [429, 429, 200]
    assert [e["fault"] for e in attempts] == ["rate_limit", "rate_limit", None]
    # Two waits of retry-after-ms=50, not the SDK's default backoff of up to seconds.
    assert 0.1 <= elapsed < 2.0


def test_prompt_filter_is_bad_request_content_filter(base_url):
    with pytest.raises(openai.BadRequestError) as e:
        ask(azure(base_url), model="filtered")
    assert e.value.code == "content_filter"
    assert e.value.body["innererror"]["content_filter_result"]["violence"]["filtered"] is True


def test_v1_api_through_plain_openai_client(base_url):
    client = OpenAI(base_url=f"{base_url}/openai/v1/", api_key=KEY, max_retries=0)
    r = ask(client)
    assert r.model == "gpt-4o-2024-08-06"
    e = client.embeddings.create(model="text-embedding-3-small", input="v1")
    assert len(e.data[0].embedding) == 1536


def test_azure_host_reached_through_replica_as_proxy(base_url):
    http_client = openai.DefaultHttpxClient(proxy=base_url)
    client = AzureOpenAI(
        azure_endpoint="http://contoso.openai.azure.com/", api_key=KEY, api_version=API_VERSION,
        max_retries=0, http_client=http_client, default_headers={SCOPE: "py-proxy"},
    )
    assert ask(client).model == "gpt-4o-2024-08-06"
    [entry] = journal(base_url, "py-proxy")
    assert entry["host"] == "contoso.openai.azure.com"
    assert entry["route"] == "azure_chat"


def v1(base_url, **kwargs):
    kwargs.setdefault("api_key", KEY)
    return OpenAI(base_url=f"{base_url}/openai/v1/", max_retries=0, **kwargs)


HELLO = [{"role": "user", "content": "Say hello in one sentence."}]


def test_responses_plain(base_url):
    r = v1(base_url, default_headers={SCOPE: "py-responses"}).responses.create(model="gpt-4o", input=HELLO)
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == "gpt-4o-2024-08-06"
    assert [item.type for item in r.output] == ["message"]
    assert r.output[0].content[0].type == "output_text"
    assert r.output_text and r.output_text == r.output[0].content[0].text
    u = r.usage
    assert u.input_tokens > 0 and u.output_tokens == len(r.output_text.split(" "))
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0 and u.output_tokens_details.reasoning_tokens == 0
    # Azure's extra field survives the SDK's parsing.
    assert [f["source_type"] for f in r.content_filters] == ["prompt", "completion"]
    [entry] = journal(base_url, "py-responses")
    assert entry["route"] == "v1_responses" and entry["status"] == 200 and entry["deployment"] == "gpt-4o"


def test_responses_headers_are_the_responses_routes_own(base_url):
    raw = v1(base_url).responses.with_raw_response.create(model="gpt-4o", input="hi")
    assert raw.headers["x-ratelimit-key"] == "gpt-4o"
    assert raw.headers["skip-error-remapping"] == "true"
    assert raw.headers["x-ms-client-request-id"] == "Not-Set"
    assert "x-ms-deployment-name" not in raw.headers and "azureml-model-session" not in raw.headers
    assert raw.parse().status == "completed"


def test_responses_reasoning_model_answers_with_a_reasoning_item_first(base_url):
    r = v1(base_url).responses.create(model="gpt-5-mini", input="hi", instructions="Be brief.")
    assert [item.type for item in r.output] == ["reasoning", "message"]
    assert r.instructions == "Be brief." and r.output_text


def test_responses_stream_events_in_order(base_url):
    client = v1(base_url)
    plain = client.responses.create(model="gpt-4o", input=HELLO)
    events = list(client.responses.create(model="gpt-4o", input=HELLO, stream=True))
    types = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert types == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added",
    ] + ["response.output_text.delta"] * len(deltas) + [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(deltas) == plain.output_text
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    done = events[-1].response
    assert done.status == "completed" and done.output_text == plain.output_text
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert done.usage.output_tokens == len(deltas)


def test_responses_stream_helper_accumulates(base_url):
    with v1(base_url).responses.stream(model="gpt-4o", input=HELLO) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text and final.usage.output_tokens > 0


def test_responses_unknown_model_is_the_v1_bad_request(base_url):
    with pytest.raises(openai.BadRequestError) as e:
        v1(base_url).responses.create(model="missing", input="hi")
    assert e.value.code == "unknown_model"
    assert e.value.body["message"] == "Unknown model: missing"


def test_responses_wrong_key_is_authentication_error(base_url):
    with pytest.raises(openai.AuthenticationError):
        v1(base_url, api_key="wrong").responses.create(model="gpt-4o", input="hi")


def test_responses_dated_route_from_the_2025_03_preview(base_url):
    client = AzureOpenAI(
        azure_endpoint=base_url, api_key=KEY, api_version="2025-04-01-preview", max_retries=0,
        default_headers={SCOPE: "py-responses-dated"},
    )
    r = client.responses.create(model="gpt-4o", input="hi")
    assert r.status == "completed" and r.output_text
    old = azure(base_url, default_headers={SCOPE: "py-responses-dated"})
    with pytest.raises(openai.NotFoundError):
        old.responses.create(model="gpt-4o", input="hi")
    entries = journal(base_url, "py-responses-dated")
    assert [(e["route"], e["api_version"], e["status"]) for e in entries] == [
        ("azure_responses", "2025-04-01-preview", 200),
        ("azure_responses", API_VERSION, 404),
    ]
