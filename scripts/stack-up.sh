#!/usr/bin/env bash
# Starts the whole stack (`make up`): builds the images that are missing or
# stale (scripts/build-images.sh), starts every container, waits until all are
# healthy, then prints where to look. On failure it prints the logs of the
# containers that did not become healthy and exits non-zero.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then
    COMPOSE="docker compose"
  else
    COMPOSE="$root/.venv/bin/docker-compose"
  fi
fi
export COMPOSE
WAIT_TIMEOUT=${KIT_WAIT_TIMEOUT:-180}

scripts/build-images.sh

services=(etcd redis postgres jaeger prometheus)
for svc in book user gateway; do
  if [ -f "services/$svc/__main__.py" ]; then
    case "$svc" in
      book) services+=(book-1 book-2) ;;
      gateway) services+=(gateway gateway-2) ;;
      *) services+=("$svc") ;;
    esac
  else
    echo "==> $svc: services/$svc/__main__.py does not exist yet; not started" >&2
  fi
done

# Prints each container that is not running and healthy, with its last logs.
report_unhealthy() {
  local svc state health
  while IFS=$'\t' read -r svc state health; do
    if [ "$state" != running ] || { [ -n "$health" ] && [ "$health" != healthy ]; }; then
      printf '\n---- %s: %s %s; its last log lines ----\n' "$svc" "$state" "$health" >&2
      $COMPOSE logs --no-color --tail 60 "$svc" >&2 || true
    fi
  done < <($COMPOSE ps -a --format '{{.Service}}\t{{.State}}\t{{.Health}}')
}

echo "==> starting ${services[*]}" >&2
start=$(date +%s)
if ! $COMPOSE up -d --wait --wait-timeout "$WAIT_TIMEOUT" "${services[@]}"; then
  report_unhealthy
  echo "error: the stack did not become healthy (see above; 'make logs' follows all logs)" >&2
  exit 1
fi
echo "==> healthy in $(( $(date +%s) - start )) s" >&2

# Prints http://localhost:PORT for a published container port.
url_of() {
  local published
  published=$($COMPOSE port "$1" "$2" 2>/dev/null | head -n 1)
  [ -n "$published" ] && echo "http://localhost:${published##*:}$3"
}

compose_cmd=${COMPOSE#"$root/"}
cat <<EOF

kitcore is up.
  gateway        $(url_of gateway 8080 /openapi.json || echo "(not started)")
  Jaeger UI      $(url_of jaeger 16686 /)
  Prometheus UI  $(url_of prometheus 9090 /targets)

Service registrations in etcd:
  $compose_cmd exec etcd etcdctl get --prefix /kitcore/services/
  $compose_cmd exec etcd etcdctl watch --prefix /kitcore/services/    (follow changes)

make ps | make logs | make down (keeps data) | make clean (removes the volumes too)
EOF
