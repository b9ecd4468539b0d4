"""Render the Kubernetes overlays of deploy/k8s with ``kubectl kustomize``.

Each overlay is rendered from a copy of deploy/k8s in a temporary folder, with
a secrets.env of fresh random values written by scripts/k8s_secrets.py, so a
render never needs or touches a user's own secrets.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())


def _secrets_module():
    spec = importlib.util.spec_from_file_location("k8s_secrets", ROOT / "scripts/k8s_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kubectl() -> str:
    """The kubectl binary; a clear error when it is missing."""
    path = shutil.which("kubectl")
    if path is None:
        raise RuntimeError(
            "kubectl is needed to render deploy/k8s (kubectl kustomize); "
            "install kubectl 1.27 or newer (kustomize v5) and run again"
        )
    return path


def render(overlay: str, workdir: Path) -> tuple[list[dict], dict[str, str]]:
    """The objects of one overlay, and the secrets it was rendered with."""
    copy = workdir / "k8s"
    if not copy.exists():
        shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env"))
    secrets_file = _secrets_module().write_secrets(copy / "overlays" / overlay)
    values = dict(line.split("=", 1) for line in secrets_file.read_text().split())
    out = subprocess.run(
        [kubectl(), "kustomize", str(copy / "overlays" / overlay)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc], values
