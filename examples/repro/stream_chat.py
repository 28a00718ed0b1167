"""A customer's app, reduced to the call that misbehaves: a streamed Azure OpenAI chat
traced by Traceloop's OpenAI instrumentor and exported over OTLP.

Nothing in it knows about hh-compat. It reads the variables any Azure OpenAI app reads
(AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN,
AZURE_OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT_NAME) and the standard OTEL_* exporter
variables, so `hh-compat run --driver command --command "python stream_chat.py"`
can point it at the replica, a replayed cassette or a live resource and judge its spans
with the matrix's `streaming` expectations. See README "Reproducing a customer's bug".
"""

import os

from openai import AzureOpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The resource comes from OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME, as in production.
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument()

token = os.environ.get("AZURE_OPENAI_AD_TOKEN")
version = os.environ["AZURE_OPENAI_API_VERSION"]
client = (
    AzureOpenAI(azure_ad_token=token, api_version=version)
    if token
    else AzureOpenAI(api_version=version)
)

stream = client.chat.completions.create(
    model=os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"],
    messages=[{"role": "user", "content": "Count to 3"}],
    stream=True,
)
text = ""
for chunk in stream:
    for choice in chunk.choices:
        if choice.delta is not None and choice.delta.content:
            text += choice.delta.content
print(f"assistant: {text}")

# Flush before exit: a short-lived script otherwise loses its spans.
provider.shutdown()
