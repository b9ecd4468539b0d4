"""kitcore.config: defaults, parsing and clear errors for bad values."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from kitcore.config import (
    DEFAULT_JWT_AUDIENCE,
    DEFAULT_JWT_ISSUER,
    KitConfig,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_storage_uri,
    env_str,
)


def test_defaults_let_a_service_run_alone():
    config = KitConfig.from_env("book", {})
    hostname = socket.gethostname()
    assert config.service_name == "book"
    assert config.instance_id == hostname
    assert config.advertise_host == hostname
    assert (config.http_port, config.grpc_port) == (8080, 50051)
    assert config.etcd_endpoints == ()
    assert config.register_ttl == 10
    assert config.jwt_secret == ""  # no default: see the next test
    assert (config.jwt_issuer, config.jwt_audience) == (DEFAULT_JWT_ISSUER, DEFAULT_JWT_AUDIENCE)
    assert (config.admin_user, config.admin_password) == ("admin", "")
    assert (config.fault_error_rate, config.fault_latency_ms) == (0.0, 0)
    assert config.log_level == "INFO"
    assert config.database_url == ""
    assert config.request_timeout == 5.0
    assert config.shutdown_grace == 10.0
    assert config.http_threads == 8
    assert config.http_server == "granian"


def test_every_variable_is_read():
    environ = {
        "KIT_SERVICE_NAME": "book",
        "KIT_INSTANCE_ID": "book-1",
        "KIT_HTTP_PORT": "8081",
        "KIT_GRPC_PORT": "0",
        "KIT_ADVERTISE_HOST": "book-1.local",
        "KIT_ETCD_ENDPOINTS": "etcd:2379, etcd-2:2379,",
        "KIT_REGISTER_TTL": "5",
        "KIT_JWT_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret",
        "KIT_JWT_ISSUER": "accounts",
        "KIT_JWT_AUDIENCE": "shop",
        "KIT_ADMIN_USER": "root",
        "KIT_ADMIN_PASSWORD": "pw",
        "KIT_FAULT_ERROR_RATE": "0.25",
        "KIT_FAULT_LATENCY_MS": "150",
        "KIT_LOG_LEVEL": "debug",
        "DATABASE_URL": "postgresql+psycopg://kit:kit@postgres/book",
        "KIT_REQUEST_TIMEOUT": "2",
        "KIT_SHUTDOWN_GRACE": "3",
        "KIT_HTTP_THREADS": "16",
        "KIT_HTTP_SERVER": "Waitress",
    }
    config = KitConfig.from_env("ignored", environ)
    assert config.service_name == "book"
    assert config.instance_id == "book-1"
    assert (config.http_port, config.grpc_port) == (8081, 0)
    assert config.http_address == "book-1.local:8081"
    assert config.grpc_address == ""
    assert config.etcd_endpoints == ("etcd:2379", "etcd-2:2379")
    assert config.register_ttl == 5
    assert config.jwt_secret == "s3cret-s3cret-s3cret-s3cret-s3cret"
    assert (config.jwt_issuer, config.jwt_audience) == ("accounts", "shop")
    assert (config.admin_user, config.admin_password) == ("root", "pw")
    assert (config.fault_error_rate, config.fault_latency_ms) == (0.25, 150)
    assert config.log_level == "DEBUG"
    assert config.database_url == "postgresql+psycopg://kit:kit@postgres/book"
    assert (config.request_timeout, config.shutdown_grace) == (2.0, 3.0)
    assert config.http_threads == 16
    assert config.http_server == "waitress"


def test_config_holds_no_setting_only_one_service_or_tracing_reads():
    names = {field.name for field in dataclasses.fields(KitConfig)}
    assert not {"rate_limit", "ratelimit_storage", "breaker_fail_max"} & names  # the gateway's
    assert not {name for name in names if name.startswith("otel_")}  # kitcore.tracing's


def test_ports_default_per_service():
    config = KitConfig.from_env("user", {}, http_port=8082, grpc_port=50052)
    assert (config.http_port, config.grpc_port) == (8082, 50052)


def test_empty_values_take_the_default():
    config = KitConfig.from_env("book", {"KIT_HTTP_PORT": "", "KIT_REGISTER_TTL": "  "})
    assert (config.http_port, config.register_ttl) == (8080, 10)


def test_config_is_frozen():
    config = KitConfig.from_env("book", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.http_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KIT_HTTP_PORT", "abc"),
        ("KIT_HTTP_PORT", "70000"),
        ("KIT_GRPC_PORT", "-1"),
        ("KIT_REGISTER_TTL", "-5"),
        ("KIT_REGISTER_TTL", "1"),  # etcd's shortest lease is 2 s
        ("KIT_REGISTER_TTL", "1.5"),
        ("KIT_ETCD_ENDPOINTS", "etcd"),
        ("KIT_ETCD_ENDPOINTS", "etcd:port"),
        ("KIT_FAULT_ERROR_RATE", "2.0"),
        ("KIT_FAULT_ERROR_RATE", "-0.1"),
        ("KIT_FAULT_ERROR_RATE", "nan"),
        ("KIT_FAULT_LATENCY_MS", "-1"),
        ("KIT_LOG_LEVEL", "LOUD"),
        ("KIT_REQUEST_TIMEOUT", "0"),
        ("KIT_SHUTDOWN_GRACE", "-1"),
        ("KIT_HTTP_THREADS", "0"),
        ("KIT_HTTP_SERVER", "gunicorn"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ValueError, match=name) as raised:
        KitConfig.from_env("book", {name: value})
    assert repr(value.strip()) in str(raised.value) or value in str(raised.value)


@pytest.mark.parametrize(
    ("read", "name", "value"),
    [
        (env_rate, "KIT_RATE_LIMIT", "2.0"),
        (env_rate, "KIT_RATE_LIMIT", "fast"),
        (env_storage_uri, "KIT_RATELIMIT_STORAGE", "mongodb://x"),
    ],
)
def test_rate_helpers_name_the_variable(read, name, value):
    with pytest.raises(ValueError, match=name):
        read(name, "1/second", {name: value})


def test_rate_helpers_read_or_default():
    assert env_rate("R", "20/second", {"R": "100 per minute"}) == "100 per minute"
    assert env_rate("R", "20/second", {}) == "20/second"
    assert env_storage_uri("S", "memory://", {"S": "redis://redis:6379/0"}) == (
        "redis://redis:6379/0"
    )


def test_helpers_read_a_service_own_settings():
    environ = {"BOOK_PAGE_SIZE": "50", "BOOK_RATIO": "0.5", "BOOK_TAGS": "a, b,,c", "X": " y "}
    assert env_int("BOOK_PAGE_SIZE", 20, environ, minimum=1, maximum=100) == 50
    assert env_int("BOOK_MISSING", 20, environ) == 20
    assert env_float("BOOK_RATIO", 1.0, environ, maximum=1.0) == 0.5
    assert env_list("BOOK_TAGS", (), environ) == ("a", "b", "c")
    assert env_list("BOOK_NONE", ("z",), environ) == ("z",)
    assert env_str("X", "", environ) == "y"
    with pytest.raises(ValueError, match="BOOK_PAGE_SIZE='50': must be at most 10"):
        env_int("BOOK_PAGE_SIZE", 20, environ, maximum=10)


def test_there_is_no_default_jwt_secret_and_reading_an_unset_one_names_the_variable() -> None:
    with pytest.raises(ValueError, match="KIT_JWT_SECRET is not set"):
        KitConfig.from_env("user", {}).jwt_key()
    given = KitConfig.from_env("user", {"KIT_JWT_SECRET": "from-the-environment"})
    assert given.jwt_key() == "from-the-environment"
