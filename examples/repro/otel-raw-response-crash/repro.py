"""Customer script: the official OpenTelemetry OpenAI instrumentor and a chat call made
through the SDK's `with_raw_response` (to read Azure's `apim-request-id` and rate-limit
headers), then `.parse()`.

It reads only what an Azure OpenAI app reads: AZURE_OPENAI_ENDPOINT,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT_NAME,
HH_COMPAT_PROMPT (optional), and the standard OTEL_EXPORTER_OTLP_* variables.
"""

import os

from openai import AzureOpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
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
prompt = os.environ.get("HH_COMPAT_PROMPT", "Say hello")

try:
    raw = client.chat.completions.with_raw_response.create(
        model=deployment,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=50,
    )
    print(f"apim-request-id: {raw.headers.get('apim-request-id')}")
    completion = raw.parse()
    print(f"assistant: {completion.choices[0].message.content}")
finally:
    # Flush even when the call raised: a short-lived script otherwise loses its spans.
    provider.shutdown()
