"""The calls of the tools, streaming-tools, stream-abandoned, raw-response and async
features, made with the real `openai` SDK alone (no instrumentor) against the replica.

What the instrumentors record can only be right if the SDK itself parses these answers
as it would parse Azure's: tool-call ids, names and JSON arguments, streamed tool-call
fragments, raw responses, the async client. The driver's own feature functions
(drivers/python/driver.py) run here too, so a driver that stops making the calls the
matrix describes fails here before any span is judged. `cargo test` runs this file
through tests/it/python_fidelity.rs.
"""

import asyncio
import gc
import json
import sys
from pathlib import Path

import pytest
import openai
from openai import AsyncAzureOpenAI

from test_replica_fidelity import API_VERSION, KEY, SCOPE, azure, base_url, journal  # noqa: F401 (fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "drivers" / "python"))
import driver  # noqa: E402

# The tool the matrix's tools features offer (src/matrix/cell.rs, `weather_tool`).
TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
TOOL_RESULT = '{"temperature": 21, "unit": "celsius"}'
PROMPT = "What is the weather in Paris?"
CHAT = {"name": "gpt-4o", "model": "gpt-4o-2024-08-06"}
EMBED = {"name": "text-embedding-3-small", "model": "text-embedding-3-small"}


def scoped(base_url, scope):
    return azure(base_url, default_headers={SCOPE: scope})


def ask_weather(client, **kwargs):
    return client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": PROMPT}], tools=[TOOL], **kwargs
    )


def test_tool_call_parsed_then_answered(base_url):
    client = azure(base_url)
    first = ask_weather(client)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_") and len(call.id) == len("call_") + 24
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"location": "replica", "unit": "celsius"}
    history = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=history, tools=[TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls


def test_streamed_tool_call_fragments_reassemble_to_the_same_call(base_url):
    client = azure(base_url)
    whole = ask_weather(client).choices[0].message.tool_calls[0]
    chunks = list(ask_weather(client, stream=True))
    deltas = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    header, fragments = deltas[0], deltas[1:]
    assert header.index == 0 and header.id == whole.id
    assert header.function.name == "get_current_weather" and header.function.arguments == ""
    assert fragments and all(f.id is None and f.function.name is None for f in fragments)
    assert "".join(f.function.arguments for f in fragments) == whole.function.arguments
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    # The driver's own reassembly agrees.
    content, calls, finish, _ = driver.streamed_message(ask_weather(client, stream=True))
    assert (content, finish) == ("", "tool_calls")
    assert calls == [{"id": whole.id, "type": "function",
                      "function": {"name": whole.function.name, "arguments": whole.function.arguments}}]


@pytest.mark.parametrize("stream", [False, True])
def test_driver_tool_round_trip(base_url, stream):
    scope = f"tools-{stream}"
    plan = {"deployment": CHAT, "prompt": PROMPT, "tool": TOOL, "tool_result": TOOL_RESULT, "stream": stream}
    seen = {}
    notes = driver.tool_round_trip(scoped(base_url, scope), plan, stream, seen)
    assert any(n.startswith("called get_current_weather(") for n in notes), notes
    # The call the service made, kept for the history checks.
    assert seen["tool_call_id"].startswith("call_"), seen
    assert json.loads(seen["tool_arguments"])["location"], seen
    assert [e["status"] for e in journal(base_url, scope)] == [200, 200]


def test_abandoned_streams(base_url):
    client = scoped(base_url, "abandoned")
    args = dict(model="gpt-4o", messages=[{"role": "user", "content": "Count to 3"}], stream=True)
    with client.chat.completions.create(**args) as stream:
        first = driver.first_content(stream)
    assert first == 3, "Azure's empty first chunk, the role chunk, then content"
    assert stream.response.is_closed, "leaving the `with` block closes the response"
    stream = client.chat.completions.create(**args)
    driver.first_content(stream)
    stream.close()
    assert stream.response.is_closed
    stream = client.chat.completions.create(**args)
    del stream
    gc.collect()
    assert [e["status"] for e in journal(base_url, "abandoned")] == [200, 200, 200]
    # The driver does the same three.
    notes = driver.abandon_streams(scoped(base_url, "abandoned-driver"), {"deployment": CHAT, "prompt": "Count to 3"})
    assert len(notes) == 3 and len(journal(base_url, "abandoned-driver")) == 3


def test_raw_responses_parse(base_url):
    client = azure(base_url)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert raw.status_code == 200
    assert raw.headers["apim-request-id"] and raw.headers["x-request-id"]
    completion = raw.parse()
    assert completion.model == "gpt-4o-2024-08-06" and completion.choices[0].message.content
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "b"])
    embeddings = raw.parse()
    assert [len(d.embedding) for d in embeddings.data] == [1536, 1536]
    assert embeddings.usage.prompt_tokens > 0
    notes = driver.raw_responses(client, {"deployment": CHAT, "embedding_deployment": EMBED,
                                          "prompt": "Say hello", "inputs": ["a", "b"]})
    assert notes[0].startswith("chat: HTTP 200, x-request-id present"), notes


def test_async_client(base_url):
    async def calls():
        client = AsyncAzureOpenAI(azure_endpoint=base_url, api_version=API_VERSION, api_key=KEY, max_retries=0)
        try:
            chat = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Say hello"}])
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Say hello"}],
                stream=True, stream_options={"include_usage": True})
            chunks = [c async for c in stream]
            embeddings = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
            return chat, chunks, embeddings
        finally:
            await client.close()

    chat, chunks, embeddings = asyncio.run(calls())
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == chat.choices[0].message.content, "streamed and plain answers agree"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == chat.usage.total_tokens
    assert len(embeddings.data) == 2
    plan = {"provider": "azure-openai", "endpoint": base_url, "api_version": API_VERSION,
            "api_key": KEY, "max_retries": 0}
    notes = driver.async_calls(plan, "async-driver", {"deployment": CHAT, "embedding_deployment": EMBED,
                                                      "prompt": "Say hello", "inputs": ["a", "b"]})
    assert notes == [f"async stream: {len(chunks)} chunks"]
    assert [e["route"] for e in journal(base_url, "async-driver")] == ["azure_chat", "azure_chat", "azure_embeddings"]


# The schema the matrix's structured-output feature asks for (src/matrix/cell.rs,
# `calendar_event_schema`).
CALENDAR_EVENT = {
    "type": "object",
    "title": "CalendarEvent",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "date": {"type": "string", "title": "Date"},
        "participants": {"type": "array", "items": {"type": "string"}, "title": "Participants"},
    },
    "required": ["name", "date", "participants"],
}
EVENT_PROMPT = "Alice and Bob are going to a science fair on Friday."


def test_structured_output_parses_as_the_schema(base_url):
    client = azure(base_url)
    response_format = {"type": "json_schema",
                       "json_schema": {"name": "calendar_event", "strict": True, "schema": CALENDAR_EVENT}}
    for stream in (False, True):
        args = dict(model="gpt-4o", messages=[{"role": "user", "content": EVENT_PROMPT}],
                    response_format=response_format)
        if stream:
            content = "".join(c.choices[0].delta.content or "" for c in
                              client.chat.completions.create(**args, stream=True) if c.choices)
        else:
            answer = client.chat.completions.create(**args)
            assert answer.choices[0].finish_reason == "stop"
            content = answer.choices[0].message.content
        event = json.loads(content)
        assert sorted(event) == ["date", "name", "participants"]
        assert isinstance(event["participants"], list)
    # The typed helper: `chat.completions.parse` (openai 2+), `beta.…parse` before.
    model = driver.calendar_event_model()
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    parsed = parse(model="gpt-4o", messages=[{"role": "user", "content": EVENT_PROMPT}],
                   response_format=model).choices[0].message.parsed
    assert isinstance(parsed, model) and parsed.name == "replica"
    assert dict(model.model_json_schema(), additionalProperties=False) == CALENDAR_EVENT


def test_driver_structured_output(base_url):
    plan = {"deployment": CHAT, "prompt": EVENT_PROMPT, "schema_name": "calendar_event",
            "schema": CALENDAR_EVENT}
    notes = driver.structured_output(scoped(base_url, "structured"), plan)
    assert notes[0].startswith("create: {") and "parse: CalendarEvent(" in notes[1], notes
    assert [e["status"] for e in journal(base_url, "structured")] == [200, 200]


def test_bad_response_format_is_a_bad_request(base_url):
    with pytest.raises(openai.BadRequestError):
        azure(base_url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema"})


@pytest.mark.parametrize("stream", [False, True])
def test_driver_responses(base_url, stream):
    scope = f"responses-{stream}"
    plan = {"provider": "azure-openai", "endpoint": base_url, "api_version": API_VERSION,
            "api_key": KEY, "max_retries": 0}
    p = {"deployment": CHAT, "prompt": "Say hello", "instructions": "Be brief",
         "api_version": "2025-04-01-preview", "stream": stream}
    # The cell's own client is the target's api-version; the driver builds one with the feature's.
    [note] = driver.responses_call(plan, scope, scoped(base_url, scope), p)
    assert note.startswith("streamed " if stream else "") and note.endswith("."), note
    [entry] = journal(base_url, scope)
    assert (entry["route"], entry["status"]) == ("azure_responses", 200)
