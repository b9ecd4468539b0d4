"""A stand-in for Jaeger, for stacks where the Jaeger image cannot be had.

This is not Jaeger. It accepts OTLP/HTTP traces (protobuf, ``POST /v1/traces``
on port 4318), keeps the newest traces in memory (bounded), and on port 16686
serves a trace view for a browser at the URLs Jaeger's UI uses, and the part
of Jaeger's HTTP query API that the kitcore tests read, in Jaeger's JSON shape:

- ``GET /`` and ``GET /search?service=..&operation=..&lookback=..&limit=..``:
  the search form and the traces found (``pages``)
- ``GET /trace/{traceID}``: one trace as a waterfall, each span's attributes
  on click (``waterfall``, ``pages``); ``#<spanID>`` opens that span
- ``GET /api/services``
- ``GET /api/services/{service}/operations``
- ``GET /api/traces?service=..&operation=..&limit=..&lookback=..&start=..&end=..``
- ``GET /api/traces/{traceID}``

With the real Jaeger image the same clients work unchanged.
"""
