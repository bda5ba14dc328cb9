"""Send spans to Phoenix over OTLP/HTTP the way a serving app does, and print their ids.

Run with .venv-phoenix/bin/python (it has the OpenTelemetry SDK; the test venv need not).
Input on stdin, JSON: {"endpoint": URL, "project": NAME, "attributes": {...},
"spans": [{"attributes": {...}}, ...]}. Output: the span ids, in order, as a JSON list.
"""

import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def main() -> None:
    request = json.load(sys.stdin)
    # Phoenix files spans under the project its resource attribute names.
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": request["project"]}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=request["endpoint"], timeout=10)))
    tracer = provider.get_tracer("relc-tests")
    span_ids = []
    for span in request["spans"]:
        with tracer.start_as_current_span("chat", attributes={"openinference.span.kind": "LLM", **span["attributes"]}) as live:
            span_ids.append(format(live.get_span_context().span_id, "016x"))
    provider.force_flush(10_000)
    provider.shutdown()
    json.dump(span_ids, sys.stdout)


if __name__ == "__main__":
    main()
