"""A stand-in for Jaeger, for stacks where the Jaeger image cannot be had.

This is not Jaeger. It accepts OTLP/HTTP traces (protobuf, ``POST /v1/traces``
on port 4318), keeps the newest traces in memory (bounded), and answers the
part of Jaeger's HTTP query API that the kitcore tests and a curious user
read, in Jaeger's JSON shape, on port 16686:

- ``GET /api/services``
- ``GET /api/services/{service}/operations``
- ``GET /api/traces?service=..&operation=..&limit=..&lookback=..&start=..&end=..``
- ``GET /api/traces/{traceID}``
- ``GET /`` a page that says what this is.

With the real Jaeger image the same clients work unchanged.
"""
