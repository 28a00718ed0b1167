"""hh-compat's Python driver: the real `openai` SDK instrumented by a real instrumentor.

The harness runs one interpreter per (style, version set):

    python driver.py --style openinference < plan.json

and reads exactly one JSON document from stdout (everything else goes to stderr).
With `--setup S` (other than `instrumentor`) the driver wires tracing the way a
customer's app does — HoneyHive's tracer, a vendor's one-line init — and runs one
cell: the harness gives every such process its own API key, and the SDK's own
exporter, not the driver, decides what reaches the backend.
The plan (stdin, so the API key never shows in a process list) names the endpoint,
the api-version, the key and, per cell, the feature and its parameters; the matrix
stays the single source of truth.

In the `instrumentor` setup the app wires tracing as a customer writes it: one SDK
`TracerProvider`, and `OpenAIInstrumentor().instrument(tracer_provider=provider)`;
no global provider is installed. Spans must still be attributed to the cell that
produced them although one process runs many cells: the provider's one span
processor hands each ended span to the *current cell's* OTLP/HTTP exporter, which
sends it with that cell's API key (`Authorization: Bearer`, from the plan), and the
harness's receiver files it under the key's cell. Cells run one after another, so
"current" is a plain variable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import traceback
from importlib import metadata

SCOPE_HEADER = "x-hh-compat-scope"
CELL_ATTRIBUTE = "hh_compat.cell"
APP_SCOPE = "hh-compat.app"

# style → (distribution, module, class)
INSTRUMENTORS = {
    "openinference": (
        "openinference-instrumentation-openai",
        "openinference.instrumentation.openai",
        "OpenAIInstrumentor",
    ),
    "traceloop": (
        "opentelemetry-instrumentation-openai",
        "opentelemetry.instrumentation.openai",
        "OpenAIInstrumentor",
    ),
    "otel-genai": (
        "opentelemetry-instrumentation-genai-openai",
        "opentelemetry.instrumentation.genai.openai",
        "OpenAIInstrumentor",
    ),
}

# How the app wires tracing (see `Wiring`; `instrumentor` is `CellExport`).
SETUPS = (
    "instrumentor",
    "honeyhive",
    "honeyhive-instrumentors",
    "honeyhive-late",
    "traceloop-sdk",
    "phoenix",
)

# The guide's own values: HoneyHiveTracer.init(source=...), a vendor app name.
HONEYHIVE_SOURCE = "production-azure-openai"
APP_NAME = "hh-compat-app"

# Packages a setup adds, reported with the versions that ran.
SETUP_DISTRIBUTIONS = ("honeyhive", "traceloop-sdk", "arize-phoenix-otel")

# Exception classes that mean the service (not the app) failed: infrastructure.
UNAVAILABLE = {
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
}


def log(message: str) -> None:
    print(f"hh-compat driver: {message}", file=sys.stderr, flush=True)


def version_of(dist: str):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions(style: str) -> dict:
    dist = INSTRUMENTORS[style][0]
    return {
        "python": platform.python_version(),
        "openai": version_of("openai"),
        "instrumentor": dist,
        "instrumentor_version": version_of(dist),
        "opentelemetry-sdk": version_of("opentelemetry-sdk"),
        **{d: version_of(d) for d in SETUP_DISTRIBUTIONS},
    }


class CellExport:
    """One explicit SDK TracerProvider whose spans go to the current cell's exporter."""

    def __init__(self, otlp_endpoint: str):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

        self.endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        self.current = None
        cells = self

        class ToCurrentCell(SpanProcessor):
            def on_end(self, span):
                if cells.current is not None:
                    cells.current.on_end(span)

        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "hh-compat-python-app"})
        )
        self.provider.add_span_processor(ToCurrentCell())

    def enter(self, key: str):
        import requests
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        # The receiver is on loopback: never route the export through the replica proxy.
        session = requests.Session()
        session.trust_env = False
        exporter = OTLPSpanExporter(
            endpoint=self.endpoint,
            session=session,
            timeout=10,
            headers={"authorization": f"Bearer {key}"},
        )
        self.current = SimpleSpanProcessor(exporter)

    def leave(self):
        if self.current is not None:
            self.current.force_flush()
            self.current.shutdown()
        self.current = None

    def shutdown(self):
        self.leave()
        try:
            self.provider.shutdown()
        except Exception as e:  # a failed shutdown must not hide the results
            log(f"shutting the tracer provider down failed: {e!r}")


class RefusedToInstrument(Exception):
    """The instrumentor loaded but declined to instrument (e.g. an unsupported openai)."""


def make_instrumentor(style: str):
    _, module, cls = INSTRUMENTORS[style]
    mod = __import__(module, fromlist=[cls])
    return getattr(mod, cls)()


def instrument(style: str, **kwargs) -> None:
    cls = INSTRUMENTORS[style][2]
    instrumentor = make_instrumentor(style)
    instrumentor.instrument(**kwargs)
    # BaseInstrumentor only logs a dependency conflict and returns; an app would run
    # uninstrumented. Say so with the package's own words instead of a silent no-op.
    if not getattr(instrumentor, "_is_instrumented_by_opentelemetry", True):
        check = getattr(instrumentor, "_check_dependency_conflicts", None)
        conflict = check() if callable(check) else None
        raise RefusedToInstrument(
            f"{cls}().instrument() did nothing: {conflict}" if conflict
            else f"{cls}().instrument() did nothing"
        )


# The sync client of this process, built once: building one loads the TLS trust store
# (about 100 ms), and every cell's client is a copy of it with the cell's scope header,
# sharing its connection pool.
_SYNC_CLIENT = {}


def client_for(plan: dict, cell: str, asynchronous: bool = False):
    """The app's client for one cell: Azure's (or plain OpenAI's for the v1 API), sending
    the cell's scope header. The async client is built anew (it belongs to one event loop)."""
    if asynchronous:
        return new_client(plan, {SCOPE_HEADER: cell}, asynchronous=True)
    base = _SYNC_CLIENT.get("client")
    if base is None:
        base = _SYNC_CLIENT["client"] = new_client(plan, {}, asynchronous=False)
    return base.with_options(default_headers={SCOPE_HEADER: cell})


def new_client(plan: dict, headers: dict, asynchronous: bool):
    import openai

    azure_client = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
    plain_client = openai.AsyncOpenAI if asynchronous else openai.OpenAI

    common = dict(
        max_retries=plan.get("max_retries", 2),
        default_headers=headers,
        timeout=plan.get("request_timeout_s", 10),
    )
    if plan["provider"] == "azure-openai":
        # An Entra ID token goes as `Authorization: Bearer`, the way the SDK documents it.
        auth = (
            dict(azure_ad_token=plan["azure_ad_token"])
            if plan.get("azure_ad_token")
            else dict(api_key=plan["api_key"])
        )
        return azure_client(
            azure_endpoint=plan["endpoint"], api_version=plan["api_version"], **auth, **common
        )
    return plain_client(base_url=plan["endpoint"], api_key=plan.get("api_key") or plan.get("azure_ad_token"), **common)


class Wiring:
    """Tracing as a customer's app sets it up; `flush()` is what the app calls last."""

    def __init__(self, setup: str, style: str):
        self.setup = setup
        self.tracer = None
        if setup == "honeyhive":
            # The guide, verbatim: the tracer first, then the instrumentor on its provider.
            from honeyhive import HoneyHiveTracer

            self.tracer = HoneyHiveTracer.init(
                source=HONEYHIVE_SOURCE, project=os.getenv("HH_PROJECT")
            )
            instrument(style, tracer_provider=self.tracer.provider)
        elif setup == "honeyhive-instrumentors":
            # The older scripts' form: the instrumentor handed over, never instrumented here.
            from honeyhive import HoneyHiveTracer

            self.tracer = HoneyHiveTracer.init(
                source=HONEYHIVE_SOURCE,
                project=os.getenv("HH_PROJECT"),
                instrumentors=[make_instrumentor(style)],
            )
        elif setup == "honeyhive-late":
            # The pitfall: the instrumentor binds to whatever provider exists first.
            instrument(style)
            from honeyhive import HoneyHiveTracer

            self.tracer = HoneyHiveTracer.init(
                source=HONEYHIVE_SOURCE, project=os.getenv("HH_PROJECT")
            )
        elif setup == "traceloop-sdk":
            from traceloop.sdk import Traceloop

            Traceloop.init(app_name=APP_NAME, disable_batch=True)
        elif setup == "phoenix":
            from phoenix.otel import register

            register(
                project_name=APP_NAME,
                auto_instrument=True,
                batch=False,
                protocol="http/protobuf",
            )
        else:
            raise ValueError(f"unknown setup `{setup}`")

    def flush(self):
        if self.tracer is not None:
            self.tracer.force_flush()
            return
        from opentelemetry import trace

        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if callable(flush):
            flush()


class Unexpected(Exception):
    """The service answered, but not as the feature expects."""


def chat_args(deployment: str, prompt: str, p: dict) -> dict:
    args = dict(model=deployment, messages=[{"role": "user", "content": prompt}])
    if p.get("max_tokens") is not None:
        args["max_tokens"] = p["max_tokens"]
    if p.get("temperature") is not None:
        args["temperature"] = p["temperature"]
    return args


def tool_call_dicts(calls) -> list:
    """Tool calls as request messages carry them (from the SDK's parsed objects)."""
    return [
        {"id": c.id, "type": "function",
         "function": {"name": c.function.name, "arguments": c.function.arguments}}
        for c in calls
    ]


def streamed_message(stream) -> tuple:
    """Reassembles a streamed answer: (content, tool calls as dicts, finish reason, chunks).

    Tool calls arrive as a header (index, id, name) and then argument fragments, keyed
    by their index.
    """
    content, calls, finish, chunks = [], {}, None, 0
    for chunk in stream:
        chunks += 1
        for choice in chunk.choices:
            delta = choice.delta
            if delta is not None and delta.content:
                content.append(delta.content)
            for t in (delta.tool_calls if delta is not None else None) or []:
                call = calls.setdefault(t.index, {"id": None, "type": "function",
                                                  "function": {"name": "", "arguments": ""}})
                if t.id:
                    call["id"] = t.id
                if t.function is not None:
                    call["function"]["name"] += t.function.name or ""
                    call["function"]["arguments"] += t.function.arguments or ""
            if choice.finish_reason:
                finish = choice.finish_reason
    return "".join(content), [calls[i] for i in sorted(calls)], finish, chunks


def tool_round_trip(client, p: dict, stream: bool, seen: dict) -> list:
    """Offers the tool, answers its call with the plan's result, and returns notes.

    First call: the model calls the tool (finish `tool_calls`); second call: the history
    with the assistant's calls and one `tool` message per call (finish `stop`). The first
    call's id and arguments go into `seen`, for the history checks.
    """
    args = chat_args(p["deployment"]["name"], p["prompt"], p)
    args["tools"] = [p["tool"]]
    if stream:
        args["stream"] = True
    notes = []
    messages = list(args["messages"])
    for turn in ("call", "answer"):
        answer = client.chat.completions.create(**dict(args, messages=messages))
        if stream:
            content, calls, finish, chunks = streamed_message(answer)
            notes.append(f"{turn}: streamed {chunks} chunks")
        else:
            choice = answer.choices[0]
            content, finish = choice.message.content, choice.finish_reason
            calls = tool_call_dicts(choice.message.tool_calls or [])
        if turn == "call":
            if finish != "tool_calls" or not calls:
                raise Unexpected(f"expected a tool call (finish `tool_calls`), got finish `{finish}` and {len(calls)} call(s)")
            for c in calls:
                json.loads(c["function"]["arguments"])  # the arguments must be JSON
            seen["tool_call_id"] = calls[0]["id"]
            seen["tool_arguments"] = calls[0]["function"]["arguments"]
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            messages.extend({"role": "tool", "tool_call_id": c["id"], "content": p["tool_result"]}
                            for c in calls)
            notes.append("called " + ", ".join(f'{c["function"]["name"]}({c["function"]["arguments"]})' for c in calls))
        elif finish != "stop" or not content:
            raise Unexpected(f"expected a text answer to the tool result (finish `stop`), got finish `{finish}`")
    return notes


def first_content(stream) -> int:
    """Iterates until the first chunk with content; returns how many chunks that took."""
    n = 0
    for chunk in stream:
        n += 1
        if any(c.delta is not None and c.delta.content for c in chunk.choices):
            return n
    raise Unexpected("the stream ended without a content chunk")


def abandon_streams(client, p: dict) -> list:
    """Three streams the app stops caring about: left with `break` inside `with`,
    closed explicitly after the first content chunk, and never iterated (dropped and
    garbage-collected)."""
    import gc

    args = chat_args(p["deployment"]["name"], p["prompt"], p)
    args["stream"] = True
    notes = []
    with client.chat.completions.create(**args) as stream:
        notes.append(f"with+break after {first_content(stream)} chunks")
    stream = client.chat.completions.create(**args)
    notes.append(f"close() after {first_content(stream)} chunks")
    stream.close()
    stream = client.chat.completions.create(**args)
    del stream
    gc.collect()
    notes.append("one stream never iterated, dropped and collected")
    return notes


def raw_responses(client, p: dict) -> list:
    """`with_raw_response` for chat and embeddings: headers first, then `.parse()`."""
    raw = client.chat.completions.with_raw_response.create(
        **chat_args(p["deployment"]["name"], p["prompt"], p))
    completion = raw.parse()
    if not completion.choices or not completion.choices[0].message.content:
        raise Unexpected("the parsed raw chat response has no content")
    notes = [f"chat: HTTP {raw.status_code}, x-request-id {'present' if raw.headers.get('x-request-id') else 'absent'}"]
    raw = client.embeddings.with_raw_response.create(
        model=p["embedding_deployment"]["name"], input=p["inputs"])
    embeddings = raw.parse()
    if len(embeddings.data) != len(p["inputs"]):
        raise Unexpected(f"{len(embeddings.data)} vectors for {len(p['inputs'])} inputs")
    notes.append(f"embeddings: HTTP {raw.status_code}, {len(embeddings.data)} vectors")
    return notes


def calendar_event_model():
    """The typed model customers hand to `parse` (OpenAI's own example)."""
    from pydantic import BaseModel

    class CalendarEvent(BaseModel):
        name: str
        date: str
        participants: list[str]

    return CalendarEvent


def structured_output(client, p: dict) -> list:
    """`response_format` with the plan's strict JSON schema, twice: as a dict through
    `create` (any SDK), and as a pydantic model through `parse`, which OpenAI's and
    Azure's structured-output guides use (`chat.completions.parse` in current SDKs,
    `beta.chat.completions.parse` before it). Both answers must parse."""
    args = chat_args(p["deployment"]["name"], p["prompt"], p)
    response_format = {"type": "json_schema", "json_schema": {
        "name": p["schema_name"], "strict": True, "schema": p["schema"]}}
    answer = client.chat.completions.create(**args, response_format=response_format)
    content = answer.choices[0].message.content
    try:
        event = json.loads(content)
    except (TypeError, ValueError):
        raise Unexpected(f"the structured answer is not JSON: {content!r}")
    missing = [k for k in p["schema"].get("required", []) if k not in event]
    if missing:
        raise Unexpected(f"the structured answer lacks {', '.join(missing)}: {content}")
    notes = [f"create: {content}"]
    model = calendar_event_model()
    expected = dict(model.model_json_schema(), additionalProperties=False)
    if expected != p["schema"]:
        raise Unexpected("the plan's schema is not the driver's CalendarEvent model's")
    parse = getattr(client.chat.completions, "parse", None)
    where = "chat.completions.parse"
    if parse is None:
        parse, where = client.beta.chat.completions.parse, "beta.chat.completions.parse"
    parsed = parse(**args, response_format=model).choices[0].message.parsed
    if not isinstance(parsed, model):
        raise Unexpected(f"{where} returned {type(parsed).__name__}, not a CalendarEvent")
    notes.append(f"{where}: {parsed!r}")
    return notes


def responses_call(plan: dict, cell: str, client, p: dict) -> list:
    """One `responses.create`, plain or streamed. On Azure's deployment API the client
    sends the feature's api-version (the dated `/openai/responses` route exists only
    from 2025-03-01-preview); the v1 API's client is the cell's own."""
    if plan["provider"] == "azure-openai":
        client = new_client(dict(plan, api_version=p["api_version"]), {SCOPE_HEADER: cell},
                            asynchronous=False)
    args = dict(model=p["deployment"]["name"], input=p["prompt"])
    if p.get("instructions"):
        args["instructions"] = p["instructions"]
    if not p["stream"]:
        response = client.responses.create(**args)
        if response.status != "completed" or not response.output_text:
            raise Unexpected(f"response {response.status} with output text {response.output_text!r}")
        return [f"{response.usage.total_tokens} tokens: {response.output_text}"]
    text, kinds, completed = [], [], None
    for event in client.responses.create(**args, stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        elif event.type == "response.completed":
            completed = event.response
    if completed is None or "".join(text) != completed.output_text:
        raise Unexpected(f"the stream did not complete with its deltas' text ({len(kinds)} events)")
    return [f"streamed {len(kinds)} events: {completed.output_text}"]


def async_calls(plan: dict, cell: str, p: dict) -> list:
    """Chat, a stream with usage, and embeddings through the async client."""
    import asyncio

    async def calls():
        client = client_for(plan, cell, asynchronous=True)
        try:
            args = chat_args(p["deployment"]["name"], p["prompt"], p)
            await client.chat.completions.create(**args)
            stream = await client.chat.completions.create(
                **args, stream=True, stream_options={"include_usage": True})
            chunks = 0
            async for _ in stream:
                chunks += 1
            await client.embeddings.create(model=p["embedding_deployment"]["name"], input=p["inputs"])
            return [f"async stream: {chunks} chunks"]
        finally:
            await client.close()

    return asyncio.run(calls())


def run_feature(client, p: dict, tracer, plan=None, cell=None, seen=None) -> list:
    """Runs one feature's calls; returns notes. Raises on a failure. What the service
    answered goes into `seen["answer"]` (chat and streaming), for content checks."""
    feature = p["feature"]
    notes = []
    seen = {} if seen is None else seen
    if feature == "chat":
        reply = client.chat.completions.create(**chat_args(p["deployment"]["name"], p["prompt"], p))
        seen["answer"] = reply.choices[0].message.content if reply.choices else None
    elif feature == "streaming":
        args = chat_args(p["deployment"]["name"], p["prompt"], p)
        args["stream"] = True
        if p["include_usage"]:
            args["stream_options"] = {"include_usage": True}
        chunks, text = 0, ""
        for chunk in client.chat.completions.create(**args):
            chunks += 1
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    text += choice.delta.content
        seen["answer"] = text
        notes.append(f"streamed {chunks} chunks")
    elif feature == "embeddings":
        args = dict(model=p["deployment"]["name"], input=p["inputs"])
        if p.get("dimensions") is not None:
            args["dimensions"] = p["dimensions"]
        # The SDK's default encoding (base64) on purpose: that is what apps send.
        client.embeddings.create(**args)
    elif feature == "multi_deployment":
        with tracer.start_as_current_span("multi-deployment"):
            for d in p["deployments"]:
                client.chat.completions.create(**chat_args(d["name"], p["prompt"], {}))
    elif feature == "errors":
        import openai

        missing = p["missing_deployment"]
        try:
            client.chat.completions.create(**chat_args(missing, p["prompt"], {}))
        except openai.NotFoundError:
            notes.append(f"deployment `{missing}` answered 404 as expected")
        except openai.BadRequestError as e:
            # The v1 API (a plain OpenAI client) answers an unknown model with 400
            # `unknown_model`; on the deployment routes only a 404 is the expected refusal.
            if isinstance(client, openai.AzureOpenAI) or getattr(e, "code", None) != "unknown_model":
                raise
            notes.append(f"deployment `{missing}` answered 400 unknown_model as expected")
        else:
            raise Unexpected(
                f"a chat call on the missing deployment `{missing}` succeeded; expected it to be refused"
            )
        client.chat.completions.create(**chat_args(p["flaky"]["name"], p["prompt"], {}))
    elif feature == "enrichment":
        # HoneyHive's guide, pattern 2: a traced function that enriches its span.
        from honeyhive import enrich_span, trace

        metadata = {k: v for k, v in p["metadata"]}
        deployment = p["deployment"]["name"]

        @trace()
        def generate_response(prompt):
            enrich_span(metadata)
            answer = client.chat.completions.create(
                model=deployment, messages=[{"role": "user", "content": prompt}]
            )
            return answer.choices[0].message.content

        generate_response(p["prompt"])
    elif feature == "tools":
        notes.extend(tool_round_trip(client, p, p["stream"], seen))
    elif feature == "stream_abandoned":
        notes.extend(abandon_streams(client, p))
    elif feature == "raw_response":
        notes.extend(raw_responses(client, p))
    elif feature == "async":
        notes.extend(async_calls(plan, cell, p))
    elif feature == "structured_output":
        notes.extend(structured_output(client, p))
    elif feature == "responses":
        notes.extend(responses_call(plan, cell, client, p))
    else:
        raise Unexpected(f"the python driver does not know feature `{feature}`")
    return notes


def classify(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, Unexpected):
        return "unexpected"
    if name in UNAVAILABLE:
        return "unavailable"
    if name in ("AuthenticationError", "PermissionDeniedError"):
        return "credential"
    if getattr(exc, "code", None) == "content_filter":
        return "prompt_filtered"
    return "call"


# Response headers that identify a request to Azure support.
REQUEST_ID_HEADERS = ("apim-request-id", "x-request-id", "x-ms-request-id")


def describe(exc: BaseException) -> str:
    """The exception's message plus, for an HTTP error, its status, code and request ids."""
    message = str(exc)[:2000]
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return message
    ids = [f"{h}={headers[h]}" for h in REQUEST_ID_HEADERS if h in headers]
    return "; ".join([message] + ids)


class RetryLog(logging.Handler):
    """Collects the SDK's "Retrying request" records, so retries reach the findings."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.lines = []

    def emit(self, record):
        text = record.getMessage()
        if text.startswith("Retrying request"):
            self.lines.append(f"openai SDK: {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", required=True, choices=sorted(INSTRUMENTORS))
    parser.add_argument("--setup", default="instrumentor", choices=SETUPS,
                        help="how the app wires tracing (default: the instrumentor on "
                        "an explicit provider)")
    parser.add_argument("--plan", help="plan file (default: stdin)")
    parser.add_argument("--versions", action="store_true",
                        help="print the installed versions as JSON and exit")
    args = parser.parse_args()
    if args.versions:
        print(json.dumps(versions(args.style)), flush=True)
        return 0
    plan = json.load(open(args.plan) if args.plan else sys.stdin)

    out = {"versions": versions(args.style), "setup_error": None, "features": []}
    cells = wiring = None
    try:
        if args.setup == "instrumentor":
            cells = CellExport(plan["otlp_endpoint"])
            instrument(args.style, tracer_provider=cells.provider)
            app_tracer = cells.provider.get_tracer(APP_SCOPE)
        else:
            wiring = Wiring(args.setup, args.style)
            from opentelemetry import trace

            app_tracer = trace.get_tracer(APP_SCOPE)
    except BaseException as e:  # noqa: BLE001 — any import/instrument failure is the finding
        out["setup_error"] = {
            "error": type(e).__name__,
            "message": "".join(traceback.format_exception_only(type(e), e)).strip(),
            "traceback": traceback.format_exc()[-4000:],
        }
        print(json.dumps(out), flush=True)
        return 0

    retries = RetryLog()
    sdk_log = logging.getLogger("openai._base_client")
    sdk_log.addHandler(retries)
    sdk_log.setLevel(logging.INFO)
    sdk_log.propagate = False

    for cell in plan["cells"]:
        cell_id, p = cell["cell"], cell["plan"]
        started = time.monotonic()
        result = {"feature": p["feature"], "cell": cell_id, "ok": True, "error": None,
                  "kind": None, "message": None, "notes": []}
        if cells is not None:
            cells.enter(cell["key"])
        retries.lines = []
        try:
            seen = {}
            result["notes"] = run_feature(
                client_for(plan, cell_id), p, app_tracer, plan, cell_id, seen
            )
            result["answer"] = seen.get("answer")
            result["tool_call_id"] = seen.get("tool_call_id")
            result["tool_arguments"] = seen.get("tool_arguments")
        except Exception as e:  # noqa: BLE001 — reported per cell, the run goes on
            result.update(ok=False, error=type(e).__name__, kind=classify(e), message=describe(e))
            log(f"{cell_id}: {type(e).__name__}: {e}")
        finally:
            if cells is not None:
                cells.leave()
            result["notes"] = retries.lines + result["notes"]
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
        out["features"].append(result)

    if cells is not None:
        cells.shutdown()
    if wiring is not None:
        try:
            wiring.flush()
        except Exception as e:  # noqa: BLE001 — a failed flush must not hide the results
            log(f"flushing spans failed: {e!r}")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
