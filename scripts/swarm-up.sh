#!/usr/bin/env bash
# Deploys the kitcore stack on Docker Swarm (`make swarm-up`) and waits until
# every service runs all its replicas.
#
# The stack file is rendered from docker-compose.yml and
# deploy/swarm/docker-stack.overlay.yml (scripts/swarm_stack.py) into
# build/swarm-stack.yml. Images come from `make images`, with no registry:
# on a swarm of several nodes, load them on every node first (docker save |
# docker load), or push them to your registry and set KIT_IMAGE_TAG.
#
# An engine that is in no swarm is made a one-node swarm (docker swarm init).
# Careful on a machine that also runs compose stacks: leaving that swarm later
# (docker swarm leave --force) has been seen to break the name resolution of
# compose containers that were not restarted.
#
# SWARM_STACK names the stack (default kitcore), SWARM_STACK_FILE where the
# rendered file goes (default build/swarm-stack.yml), SWARM_TIMEOUT how many
# seconds to wait (default 300). DOCKER_HOST chooses the engine, as always.
set -euo pipefail

cd "$(dirname "$0")/.."
stack=${SWARM_STACK:-kitcore}
timeout=${SWARM_TIMEOUT:-300}
stack_file=${SWARM_STACK_FILE:-build/swarm-stack.yml}
say() { printf '==> %s\n' "$*" >&2; }

scripts/env-secrets.sh   # the stack file takes its secrets from .env, as compose does

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != active ]; then
  say "this Docker engine is in no swarm: making it a one-node swarm"
  docker swarm init ${SWARM_ADVERTISE_ADDR:+--advertise-addr "$SWARM_ADVERTISE_ADDR"} >/dev/null
fi

mkdir -p "$(dirname "$stack_file")"
.venv/bin/python scripts/swarm_stack.py >"$stack_file"
say "deploying stack $stack ($stack_file)"
docker stack deploy --resolve-image never --prune -c "$stack_file" "$stack"

say "waiting until every service runs all its replicas (at most ${timeout}s)"
deadline=$((SECONDS + timeout))
while :; do
  pending=$(docker stack services "$stack" --format '{{.Name}} {{.Replicas}}' \
            | awk '{split($2, r, "/"); if (r[1] != r[2]) print $1 " " $2}')
  [ -z "$pending" ] && break
  if [ $SECONDS -ge $deadline ]; then
    printf '%s\n' "$pending" >&2
    say "not every service is running; see: docker stack ps $stack --no-trunc"
    exit 1
  fi
  sleep 3
done
docker stack services "$stack"
say "gateway: http://localhost:${GATEWAY_PORT:-8080} (on every node); scale book with: docker service scale ${stack}_book=4"
