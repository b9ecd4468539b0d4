#!/usr/bin/env bash
# Starts the whole stack (`make up`): gives the checkout its own random
# secrets in .env the first time (scripts/env-secrets.sh), builds the images
# that are missing or stale (scripts/build-images.sh), starts every container,
# waits until all are healthy, then prints where to look. On failure it prints the logs of the
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

scripts/env-secrets.sh
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

# The trace view: Jaeger's UI, or the stand-in's pages at the same URLs.
trace_label="Jaeger UI    " trace_note=""
case "$($COMPOSE ps --format '{{.Image}}' jaeger 2>/dev/null | head -n 1)" in
  *jaeger-standin*) trace_label="Trace view   " trace_note="   (the Jaeger stand-in: traces in memory)" ;;
esac
traces=$(url_of jaeger 16686 "" || echo "(not started)")
gateway=$(url_of gateway 8080 "" || echo "(not started)")
admin_user=$({ ${KIT_ADMIN_USER:+echo "$KIT_ADMIN_USER"}; sed -n 's/^KIT_ADMIN_USER=//p' .env; } | head -n 1)

compose_cmd=${COMPOSE#"$root/"}
cat <<EOF

kitcore is up.
  gateway        $gateway/openapi.json
  $trace_label  $traces/search$trace_note
  Prometheus UI  $(url_of prometheus 9090 /targets || echo "(not started)")

See one request cross the services:
  curl -si $gateway/api/v1/books | grep -i x-trace-id
  then open $traces/trace/<that id>

Secrets of this checkout, made by the first 'make up': .env (git-ignored), with
KIT_JWT_SECRET, POSTGRES_PASSWORD and KIT_ADMIN_PASSWORD, the password of the
fault knobs (/admin/faults, user ${admin_user:-admin}).

Service registrations in etcd:
  $compose_cmd exec etcd etcdctl get --prefix /kitcore/services/
  $compose_cmd exec etcd etcdctl watch --prefix /kitcore/services/    (follow changes)

make ps | make logs | make down (keeps data) | make clean (removes the volumes too)
EOF
