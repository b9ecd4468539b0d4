"""HTTP transport: the Flask server adapter, the pooled client endpoint, decode helpers.

One import for services: the server side lives in ``http_server``, the client
in ``http_client``, the body and field checks in ``http_decode``.
"""

from kitcore.transport.http_client import ClientRequest, HTTPClient, error_from_response
from kitcore.transport.http_decode import (
    email_str,
    json_body,
    optional_int,
    optional_str,
    path_str,
    query_int,
    query_str,
    required_int,
    required_str,
)
from kitcore.transport.http_server import (
    REMOTE_ADDR_KEY,
    SERVED_BY_HEADER,
    TIMEOUT_HEADER,
    TRACE_ID_HEADER,
    context_from_request,
    encode_error,
    encode_json,
    json_response,
    new_app,
    route,
)

__all__ = [
    "REMOTE_ADDR_KEY",
    "SERVED_BY_HEADER",
    "TIMEOUT_HEADER",
    "TRACE_ID_HEADER",
    "ClientRequest",
    "HTTPClient",
    "context_from_request",
    "email_str",
    "encode_error",
    "encode_json",
    "error_from_response",
    "json_body",
    "json_response",
    "new_app",
    "optional_int",
    "optional_str",
    "path_str",
    "query_int",
    "query_str",
    "required_int",
    "required_str",
    "route",
]
