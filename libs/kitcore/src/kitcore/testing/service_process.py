"""A service run as the stack runs it, ``python -m <service>``, for the length of a test.

::

    service = ServiceProcess("book", ROOT, env={"KIT_INSTANCE_ID": "book-test"}).start()
    requests.get(f"{service.url}/readyz")
    grpc.insecure_channel(service.grpc_address)
    service.stop()   # SIGTERM: the graceful stop a container gets
    service.close()

Its settings come from the environment only, as in a container: HTTP and
gRPC on free ports of 127.0.0.1, no etcd, no tracing and the service's own
default database (SQLite in the working directory) unless ``env`` says
otherwise. :meth:`start` returns once ``/readyz`` answers 200 (the port opens while the
service is still starting). What it writes to stdout and stderr is in
:meth:`log_tail`.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from kitcore.testing.process import ServerProcess, free_port


class ServiceProcess(ServerProcess):
    """``python -m <module>`` from the repository at ``root``, on free ports, in ``workdir``.

    ``root`` holds ``services/`` and ``build/gen/`` (the generated gRPC code),
    which become its ``PYTHONPATH`` as in the images. ``workdir`` defaults to
    the process's temporary folder, kept across :meth:`stop` / :meth:`start`.
    """

    def __init__(
        self,
        module: str,
        root: Path,
        *,
        workdir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.grpc_port = free_port(self.host)
        self.workdir = workdir or self.data_dir
        self.env = {
            "PYTHONPATH": f"{root / 'services'}:{root / 'build' / 'gen'}",
            "KIT_HTTP_PORT": str(self.port),
            "KIT_GRPC_PORT": str(self.grpc_port),
            "KIT_ADVERTISE_HOST": self.host,
            "KIT_ETCD_ENDPOINTS": "",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            "DATABASE_URL": "",
            **(env or {}),
        }

    def start(self, timeout: float = 20.0, *, ready: bool = True) -> ServiceProcess:
        """Start the service and wait until its port answers and, when ``ready``, until
        ``/readyz`` says 200: the port opens before the service has finished starting."""
        super().start(timeout)
        if ready:
            self._wait_ready(time.monotonic() + timeout)
        return self

    def _wait_ready(self, deadline: float) -> None:
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2):
                    return
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                status = str(exc)
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"{self.module} not ready (/readyz: {status})\n--- log ---\n"
                           f"{self.log_tail()}")

    @property
    def url(self) -> str:
        """The HTTP base URL, ``http://host:port``."""
        return f"http://{self.address}"

    @property
    def grpc_address(self) -> str:
        """Where gRPC answers, ``host:grpc_port``."""
        return f"{self.host}:{self.grpc_port}"

    def argv(self) -> Sequence[str]:
        """``env --chdir=workdir NAME=value ... python -m module`` (this venv's python)."""
        settings = [f"{name}={value}" for name, value in self.env.items()]
        return ["env", f"--chdir={self.workdir}", *settings, sys.executable, "-m", self.module]
