"""Exports a few spans with the real Python OpenTelemetry SDK to an OTLP/HTTP endpoint.

Driven by tests/otlp_python.rs, which starts hh-compat's receiver and asserts on what
arrives. Usage:

    OTEL_RESOURCE_ATTRIBUTES=hh_compat.cell=py-cell \
        python otlp_export.py --endpoint http://127.0.0.1:PORT --protocol http/protobuf

`--protocol` is `http/protobuf` (opentelemetry-exporter-otlp-proto-http) or `http/json`
(opentelemetry-exporter-otlp-json-http). The cell comes from OTEL_RESOURCE_ATTRIBUTES
through the SDK's own resource detection, exactly as in a driver process.
Exits non-zero (and says why on stderr) if any export fails.
"""

import argparse
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


class CountingExporter(SpanExporter):
    """Wraps the real exporter to remember whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def make_exporter(protocol, endpoint, compression):
    url = endpoint.rstrip("/") + "/v1/traces"
    gzip = compression == "gzip"
    # The two packages spell their compression enums differently.
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        comp = Compression.Gzip if gzip else Compression.NoCompression
    elif protocol == "http/json":
        from opentelemetry.exporter.otlp.common.http import Compression
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

        comp = Compression.GZIP if gzip else Compression.NONE
    else:
        raise SystemExit(f"unknown protocol {protocol!r}")
    return OTLPSpanExporter(endpoint=url, compression=comp, timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", default="http/protobuf")
    parser.add_argument("--compression", default="none", choices=["none", "gzip"])
    args = parser.parse_args()

    exporter = CountingExporter(make_exporter(args.protocol, args.endpoint, args.compression))
    # Resource.create() merges OTEL_RESOURCE_ATTRIBUTES, which carries the cell.
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-python-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hh_compat.python.test", "0.0.1")

    with tracer.start_as_current_span("py-parent", kind=SpanKind.SERVER) as parent:
        parent.set_attribute("protocol", args.protocol)
        with tracer.start_as_current_span("py-child", kind=SpanKind.CLIENT) as child:
            child.set_attributes(
                {
                    "gen_ai.system": "openai",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.request.temperature": 0.5,
                    "llm.is_streaming": True,
                    "gen_ai.response.finish_reasons": ["stop", "length"],
                    "ints": [1, 2, 3],
                    "doubles": [0.25, 0.5],
                    "bools": [True, False],
                    "empty": [],
                }
            )
            child.add_event("exception", {"exception.type": "RateLimitError"})
            child.set_status(Status(StatusCode.ERROR, "429"))

    provider.shutdown()
    if exporter.failures:
        print(f"{exporter.failures} export(s) failed", file=sys.stderr)
        return 1
    print("exported 2 spans")
    return 0


if __name__ == "__main__":
    sys.exit(main())
