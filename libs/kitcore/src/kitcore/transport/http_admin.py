"""The HTTP routes every service serves beside its API, on Flask.

- :func:`health_routes`: ``GET /healthz`` (alive: always 200) and
  ``GET /readyz`` (200, or 503 naming the failed check), from a
  :class:`kitcore.health.Readiness`;
- :func:`metrics_route`: ``GET /metrics``, the Prometheus text format of
  prometheus-client's default registry (what :mod:`kitcore.metrics` records);
- :func:`fault_routes`: ``GET``/``PUT /admin/faults``, the demo knobs of
  :class:`kitcore.faults.FaultSettings`, behind basic auth;
- :func:`basic_auth_required`: the view decorator that guards them with
  :func:`kitcore.auth.check_basic_auth`.

:class:`kitcore.app.App` adds the first three to every service's Flask app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flask
import prometheus_client

from kitcore import errors
from kitcore.auth import basic_auth_rejection, check_basic_auth
from kitcore.faults import FaultSettings
from kitcore.health import Readiness
from kitcore.transport.http_decode import json_body
from kitcore.transport.http_server import encode_error


def health_routes(app: flask.Flask, readiness: Readiness) -> None:
    """Add ``GET /healthz`` (alive: always 200) and ``GET /readyz`` (200 or 503)."""

    def healthz() -> flask.Response:
        return flask.jsonify({"status": "ok"})

    def readyz() -> flask.Response:
        problem = readiness.problem()
        if problem:
            return encode_error(errors.Unavailable(problem))
        return flask.jsonify({"status": "ok"})

    app.add_url_rule("/healthz", endpoint="healthz", view_func=healthz, methods=["GET"])
    app.add_url_rule("/readyz", endpoint="readyz", view_func=readyz, methods=["GET"])


def metrics_route(app: flask.Flask, rule: str = "/metrics") -> None:
    """Serve the default registry in the Prometheus text format at ``rule``."""

    def metrics() -> flask.Response:
        body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
        return flask.Response(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)

    app.add_url_rule(rule, endpoint="metrics", view_func=metrics, methods=["GET"])


def basic_auth_required(user: str, password: str) -> Callable[[Callable[..., Any]], Any]:
    """A Flask view decorator answering 401 (JSON, ``WWW-Authenticate``) without
    these credentials."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            header = flask.request.headers.get("Authorization")
            if not check_basic_auth(header, user, password):
                return encode_error(basic_auth_rejection())
            return view(*args, **kwargs)

        return guarded

    return decorate


def fault_routes(app: flask.Flask, settings: FaultSettings, user: str, password: str) -> None:
    """Add ``GET /admin/faults`` and ``PUT /admin/faults`` (JSON, partial
    updates allowed) to ``app``, behind basic auth."""
    guard = basic_auth_required(user, password)

    @guard
    def get_faults() -> Any:
        return flask.jsonify(settings.as_dict())

    @guard
    def put_faults() -> Any:
        try:
            body = json_body(flask.request, allowed={"error_rate", "latency_ms"})
            settings.update(error_rate=body.get("error_rate"), latency_ms=body.get("latency_ms"))
        except errors.KitError as err:
            return encode_error(err)
        return flask.jsonify(settings.as_dict())

    app.add_url_rule("/admin/faults", "admin_get_faults", get_faults, methods=["GET"])
    app.add_url_rule("/admin/faults", "admin_put_faults", put_faults, methods=["PUT"])
