"""Customer script: Traceloop's OpenAI instrumentor and streamed Azure OpenAI chats the
app stops reading: one left after the first content chunk by `break` inside `with`,
one read to its first content chunk and then `close()`d, and one never iterated and
dropped (a request handler that returned early).

It reads only what an Azure OpenAI app reads: AZURE_OPENAI_ENDPOINT,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT_NAME,
HH_COMPAT_PROMPT (optional), and the standard OTEL_EXPORTER_OTLP_* variables.
"""

import gc
import os

from openai import AzureOpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument()

client = AzureOpenAI(
    azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
    api_key=os.environ["AZURE_OPENAI_API_KEY"],
    api_version=os.environ["AZURE_OPENAI_API_VERSION"],
)
deployment = os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"]
prompt = os.environ.get("HH_COMPAT_PROMPT", "Count to 3")
messages = [{"role": "user", "content": prompt}]


def first_content(stream):
    """Reads up to the first chunk with text (Azure's first chunk has no choices)."""
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                return choice.delta.content
    return None


# 1. `break` out of the stream inside `with`.
with client.chat.completions.create(model=deployment, messages=messages, stream=True) as stream:
    print(f"first (with): {first_content(stream)}")

# 2. Read the first chunk with text, then close the stream.
stream = client.chat.completions.create(model=deployment, messages=messages, stream=True)
print(f"first (close): {first_content(stream)}")
stream.close()
del stream

# 3. Never read: the handler returned before iterating; the object is collected.
unread = client.chat.completions.create(model=deployment, messages=messages, stream=True)
del unread
gc.collect()

provider.shutdown()
