"""Generate Python gRPC code from proto/*.proto with grpcio-tools.

Usage: python scripts/gen_proto.py PROTO_DIR OUT_DIR

The code goes into OUT_DIR/protos/ as the package ``protos``
(``from protos import book_pb2, book_pb2_grpc``). It is regenerated only when
a .proto file is newer than its output, and is never edited by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PACKAGE = "protos"


def _stale(proto: Path, out: Path) -> bool:
    target = out / PACKAGE / f"{proto.stem}_pb2.py"
    return not target.exists() or target.stat().st_mtime < proto.stat().st_mtime


def generate(proto_dir: Path, out_dir: Path) -> int:
    """Compile every stale .proto in proto_dir; return how many were compiled."""
    (out_dir / PACKAGE).mkdir(parents=True, exist_ok=True)
    (out_dir / PACKAGE / "__init__.py").write_text('"""Generated gRPC code; see proto/."""\n')
    protos = sorted(p for p in proto_dir.glob("*.proto") if _stale(p, out_dir))
    include = str(Path(protoc.__file__).parent / "_proto")
    for proto in protos:
        # Map proto_dir to the package name so generated imports read
        # "from protos import book_pb2".
        args = [
            "protoc",
            f"--proto_path={PACKAGE}={proto_dir}",
            f"--proto_path={include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"{PACKAGE}/{proto.name}",
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed for {proto}")
    return len(protos)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    count = generate(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"proto: {count} file(s) generated into {sys.argv[2]}/{PACKAGE}")
