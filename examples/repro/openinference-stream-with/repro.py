"""Customer script: OpenInference's OpenAI instrumentor and a streamed Azure OpenAI chat
read inside `with ... as stream:`, the way langchain-openai consumes streams.

It reads only what an Azure OpenAI app reads: AZURE_OPENAI_ENDPOINT,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT_NAME,
HH_COMPAT_PROMPT (optional), and the standard OTEL_EXPORTER_OTLP_* variables.
"""

import os

from openai import AzureOpenAI
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)

client = AzureOpenAI(
    azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
    api_key=os.environ["AZURE_OPENAI_API_KEY"],
    api_version=os.environ["AZURE_OPENAI_API_VERSION"],
)
deployment = os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"]
prompt = os.environ.get("HH_COMPAT_PROMPT", "Count to 3")

text = ""
with client.chat.completions.create(
    model=deployment,
    messages=[{"role": "user", "content": prompt}],
    stream=True,
) as stream:
    for chunk in stream:
        # Azure's first chunk carries only prompt_filter_results and no choices.
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                text += choice.delta.content
print(f"assistant: {text}")

provider.shutdown()
