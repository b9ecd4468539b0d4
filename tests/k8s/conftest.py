"""Fixtures of the Kubernetes manifest tests: every overlay, rendered once."""

from __future__ import annotations

import pytest
from k8s.render import OVERLAYS, render


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request, tmp_path_factory):
    """(name, objects, secrets) of one overlay of deploy/k8s."""
    objects, secrets = render(request.param, tmp_path_factory.mktemp("k8s"))
    return request.param, objects, secrets
