"""warroom's own telemetry: Prometheus metrics recorded by activities and the intake, and OpenTelemetry
tracing set up from the standard OTEL_* variables (off by default). Workflow code never imports this."""
