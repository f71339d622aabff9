# syntax=docker/dockerfile:1
# session-collector as a container image.
#
#   docker build -t session-collector .
#   docker run -p 4317:4317 -p 4318:4318 -p 4320:4320 -p 8888:8888 -p 13133:13133 \
#       -v session-collector-data:/var/lib/session-collector session-collector
#
# With no arguments the collector runs its built-in default config (OTLP in, sessions into
# embedded ClickHouse under /var/lib/session-collector), listening on 0.0.0.0. A config of
# your own: mount it under /etc/session-collector/ and pass
#   run --config /etc/session-collector/config.yaml
# deploy/container/README.md says what was checked and how (tests/deploy/test_container.py
# runs this file's install steps and ENV without a container engine).
#
# Both stages use the same base, so the virtualenv built in the first runs in the second
# (its interpreter is the base image's /usr/local/bin/python3.11). chDB's wheel is
# manylinux_2_17 (glibc): a glibc base (Debian), not Alpine's musl.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: the project's wheel, then a virtualenv with it and its dependencies ----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# only what the wheel is built from (.dockerignore keeps the rest out of the context too)
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY receivers ./receivers
COPY processors ./processors
COPY exporters ./exporters
COPY extensions ./extensions
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m pip wheel --no-deps --wheel-dir /dist .
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/session-collector \
    && /opt/session-collector/bin/pip install --only-binary=:all: /dist/session_collector-*.whl

# ---- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="session-collector" \
      org.opencontainers.image.description="OpenTelemetry-style collector for Claude Code and Claude Cowork telemetry" \
      org.opencontainers.image.licenses="Apache-2.0"

# a fixed non-root uid/gid, so a volume's ownership can be set from outside
RUN groupadd --system --gid 10001 collector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/session-collector \
       --no-create-home --shell /usr/sbin/nologin collector \
    && mkdir -p /var/lib/session-collector /etc/session-collector \
    && chown 10001:10001 /var/lib/session-collector

COPY --from=builder /opt/session-collector /opt/session-collector

# The built-in default config reads these: listen on every interface (the container's
# network namespace is the boundary), keep keys.json, clickhouse/ and queue/ on the volume.
ENV PATH=/opt/session-collector/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SESSION_COLLECTOR_DATA_DIR=/var/lib/session-collector \
    SESSION_COLLECTOR_OTLP_ENDPOINT=0.0.0.0:4318 \
    SESSION_COLLECTOR_OTLP_GRPC_ENDPOINT=0.0.0.0:4317 \
    SESSION_COLLECTOR_API_ENDPOINT=0.0.0.0:4320 \
    SESSION_COLLECTOR_HEALTH_ENDPOINT=0.0.0.0:13133 \
    SESSION_COLLECTOR_METRICS_ADDRESS=0.0.0.0:8888

# OTLP/gRPC receiver (logs, metrics, traces)
EXPOSE 4317
# OTLP/HTTP receiver: /v1/logs, /v1/metrics, /v1/traces and /api/v1/hooks/cowork/otlp/...
EXPOSE 4318
# sessions API and the sessions console
EXPOSE 4320
# Prometheus metrics of the collector itself, at /metrics
EXPOSE 8888
# health_check extension: GET / answers 200 while exporters deliver, 503 once one fails
EXPOSE 13133

# keys.json, the embedded ClickHouse store and the write-ahead queue
VOLUME ["/var/lib/session-collector"]
WORKDIR /var/lib/session-collector
USER 10001:10001

# no curl in the image: the probe is Python. It asks the port of SESSION_COLLECTOR_HEALTH_ENDPOINT
# on loopback, so it follows that variable; a config that moves health_check elsewhere
# overrides the HEALTHCHECK too (docker run --health-cmd ...).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request; port=os.environ.get('SESSION_COLLECTOR_HEALTH_ENDPOINT','127.0.0.1:13133').rsplit(':',1)[1]; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:'+port+'/', timeout=4).status == 200 else 1)"]

# SIGTERM (docker stop) shuts down cleanly: in-flight requests finish, batches flush, exit 0;
# each component gets at most 10 s, so give `docker stop -t 60` / a grace period >= 60 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["session-collector"]
CMD ["run"]
