# The image of every Python service (book, user, gateway, and each one made by
# `make new-service`): the same stages, with the service named by a build
# argument. Build context: the repository root, e.g.
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=book \
#       --build-arg BASE_IMAGE=... .
# BASE_IMAGE is any Python 3.11 image: the public slim one by default, or the
# one `make images` builds from Debian packages where no registry answers.
# Every stage starts from it, so the virtual environment's python is the same
# in all of them. Everything above SERVICE is the same for every service, so
# the services share their build cache and their dependency layers.
ARG BASE_IMAGE=python:3.11-slim

# ---- deps: the locked dependencies, from the wheelhouse, never an index ----
FROM ${BASE_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
COPY requirements.lock /src/requirements.lock
COPY build/wheelhouse /wheels
RUN /opt/venv/bin/pip install --no-index --find-links /wheels -r /src/requirements.lock

# ---- gen: the gRPC code from proto/ ----
FROM deps AS gen
COPY scripts/gen_proto.py /src/scripts/gen_proto.py
COPY proto /src/proto
RUN /opt/venv/bin/python /src/scripts/gen_proto.py /src/proto /app/gen \
 && /opt/venv/bin/python -m compileall -q /app/gen

# ---- kitcore: the toolkit on its own, so a change to it rebuilds one small layer ----
FROM deps AS kitcore
COPY libs/kitcore /src/libs/kitcore
RUN /opt/venv/bin/pip install --no-index --find-links /wheels --no-deps \
        --target /opt/kitcore /src/libs/kitcore

# ---- venv: what runs; the code generator and the installer are left out ----
FROM deps AS venv
RUN /opt/venv/bin/pip uninstall --quiet --yes grpcio-tools setuptools \
 && /opt/venv/bin/python -m pip uninstall --quiet --yes pip

# ---- the image ----
FROM ${BASE_IMAGE}
RUN useradd --system --create-home --home-dir /home/kit --shell /usr/sbin/nologin kit
# Settings first: they stay cached when the code below changes.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/services:/app/gen \
    PYTHONUNBUFFERED=1
WORKDIR /home/kit
EXPOSE 8080 50051
# The probe is bash alone (/dev/tcp, builtins only): ~2 ms of CPU, where starting
# Python costs ~90 ms, every 5 s in every container. Healthy: /healthz answers
# 200 within 2 s.
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 status <&3 && [[ $status == HTTP/1.?' 200 '* ]]"]
# Files are copied as root (read-only for the service); it runs as kit.
USER kit
COPY --from=venv /opt/venv /opt/venv
COPY --from=gen /app/gen /app/gen
# python3.11: the wheelhouse holds cp311 wheels, so every base is Python 3.11.
COPY --from=kitcore /opt/kitcore/ /opt/venv/lib/python3.11/site-packages/
# Only from here on does the image differ between services: its name (a
# setting, so before the code), then its code.
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; }
ENV KIT_SERVICE_PACKAGE=${SERVICE}
COPY services/${SERVICE} /app/services/${SERVICE}
# exec: python replaces the shell, so SIGTERM reaches the service and it drains.
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$KIT_SERVICE_PACKAGE\""]
