"""Write a Kubernetes overlay's secrets.env with fresh random values.

Usage: python scripts/k8s_secrets.py deploy/k8s/overlays/local

The keys are those of the overlay's secrets.env.example; each gets 32 random
bytes as URL-safe text (it goes into a database URL as it is). An existing
secrets.env is left alone, so secrets are never replaced by accident.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path


def secret_keys(example: Path) -> list[str]:
    """The variable names of a secrets.env.example (``NAME=`` lines)."""
    keys = []
    for line in example.read_text().splitlines():
        name, sep, _ = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            keys.append(name.strip())
    return keys


def write_secrets(overlay: Path) -> Path:
    """Create ``overlay/secrets.env`` with a random value per key; return its path."""
    target = overlay / "secrets.env"
    if not target.exists():
        keys = secret_keys(overlay / "secrets.env.example")
        target.write_text("".join(f"{key}={secrets.token_hex(32)}\n" for key in keys))
        target.chmod(0o600)
    return target


def main() -> None:
    """Write the secrets of the overlay named on the command line."""
    if len(sys.argv) != 2:
        sys.exit("usage: k8s_secrets.py OVERLAY_DIR")
    path = write_secrets(Path(sys.argv[1]))
    print(f"secrets in {path} (kept out of git)")


if __name__ == "__main__":
    main()
