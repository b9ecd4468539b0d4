#!/usr/bin/env bash
# Builds every image the stack needs and writes their names into .env, which
# docker compose reads by itself.
#
# 1. A wheelhouse (build/wheelhouse): cp311 manylinux wheels for
#    requirements.lock, downloaded on the host; the Python images install from
#    it with no index. Skipped while it matches the lock.
# 2. The base images. Decided once per run: with KIT_IMAGES=public (or when the
#    public Python image is present or can be pulled) the public images are
#    used; with KIT_IMAGES=local (or when no registry answers) they are built
#    from Debian packages (docker/build-rootfs.sh: mmdebstrap + docker import,
#    then a small Dockerfile per image). A public image that cannot be pulled is
#    built locally instead. Each local image is tagged with a hash of its recipe
#    and skipped while that tag exists. The root filesystems build in parallel,
#    and the Python images start as soon as the Python base is ready. Jaeger has
#    no Debian package: the local path uses the stand-in in docker/jaeger-standin.
# 3. The service images (docker/service.Dockerfile), built by compose from the
#    compose file; Docker's layer cache makes a rebuild of unchanged code quick.
#
# `scripts/build-images.sh swarm-node` builds only the image of the swarm
# tests' Docker-in-Docker nodes (docker/swarm-node) and prints its name.
#
# Logs of the slow steps go to build/logs/. KIT_REBUILD=1 rebuilds the local
# base images even when their tags exist (to pick up Debian's updates).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
logs="$root/build/logs"
mkdir -p "$logs"

if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then
    COMPOSE="docker compose"
  else
    COMPOSE="$root/.venv/bin/docker-compose"
  fi
fi

LOCAL_REPO=kitcore-local
SERVICES=(book user gateway)
# The variables compose reads, and the local image that stands in for each.
IMAGE_VARS=(BASE_IMAGE ETCD_IMAGE REDIS_IMAGE POSTGRES_IMAGE PROMETHEUS_IMAGE JAEGER_IMAGE)
declare -A LOCAL_NAME=([BASE_IMAGE]=python [ETCD_IMAGE]=etcd [REDIS_IMAGE]=redis
                       [POSTGRES_IMAGE]=postgres [PROMETHEUS_IMAGE]=prometheus
                       [JAEGER_IMAGE]=jaeger-standin [SWARM_NODE_IMAGE]=swarm-node)
declare -A CHOSEN=()      # VAR -> image name
declare -A ROOTFS_PID=()  # local image name -> pid of its root filesystem build

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints the tail of a log file to stderr, to explain a failure.
show_log() {
  printf -- '---- last lines of %s ----\n' "${1#"$root/"}" >&2
  tail -n 40 "$1" >&2 || true
}

# Prints the first 12 hex digits of the sha256 of the given files (names and
# contents) and of the environment variable EXTRA.
hash_of() {
  { for f in "$@"; do printf '%s\n' "$f"; cat "$f"; done; printf '%s\n' "${EXTRA:-}"; } \
    | sha256sum | cut -c1-12
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Removes older tags of the same local repository (earlier recipes).
drop_stale_tags() {
  local repo=$1 keep=$2 t
  for t in $(docker image ls "$repo" --format '{{.Repository}}:{{.Tag}}'); do
    [ "$t" = "$keep" ] || docker image rm "$t" >/dev/null 2>&1 || true
  done
}

# The public image named as the default of VAR in docker-compose.yml
# (`image: ${VAR:-name}`), so the names live in one place.
public_image() {
  sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" docker-compose.yml | head -n 1
}

# ---- 1. wheelhouse -------------------------------------------------------

wheelhouse() {
  local dir="$root/build/wheelhouse" pip="${PIP:-$root/.venv/bin/pip}"
  local args=(--isolated download --only-binary=:all: --implementation cp
              --python-version 3.11 --platform manylinux2014_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
  # The lock also pins what only the images need: setuptools (builds kitcore
  # inside the image, no index) and async-timeout (Debian's Python 3.11.2).
  local want
  want=$(EXTRA="${args[*]}" hash_of requirements.lock)
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then
    say "wheelhouse: up to date with requirements.lock"
    return
  fi
  say "wheelhouse: downloading wheels for requirements.lock (log: build/logs/wheelhouse.log)"
  rm -rf "$dir.tmp"
  if ! "$pip" "${args[@]}" -r requirements.lock -d "$dir.tmp" \
        >"$logs/wheelhouse.log" 2>&1; then
    show_log "$logs/wheelhouse.log"
    die "could not download the wheels (is PyPI reachable?)"
  fi
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "$want" >"$dir/.stamp"
}

# ---- 2. base images ------------------------------------------------------

# Prints "public" or "local": KIT_IMAGES when set, otherwise whether the
# public Python image is here or can be pulled.
choose_mode() {
  case "${KIT_IMAGES:-auto}" in
    public | local) echo "$KIT_IMAGES"; return ;;
    auto) ;;
    *) die "KIT_IMAGES must be public, local or auto (got '$KIT_IMAGES')" ;;
  esac
  local probe
  probe=$(public_image BASE_IMAGE)
  if image_exists "$probe" || timeout 60 docker pull -q "$probe" >"$logs/pull.log" 2>&1; then
    echo public
  else
    echo local
  fi
}

# Installs mmdebstrap when it is missing (Debian hosts).
need_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return
  command -v apt-get >/dev/null 2>&1 || die "mmdebstrap is needed to build images offline"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing mmdebstrap"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    mmdebstrap debootstrap >/dev/null
}

rootfs_tag() {
  local name=$1
  local files=(docker/build-rootfs.sh "docker/$name/packages")
  [ -f "docker/$name/mmdebstrap-args" ] && files+=("docker/$name/mmdebstrap-args")
  echo "$LOCAL_REPO/$name-rootfs:$(hash_of "${files[@]}")"
}

final_tag() {
  local name=$1 files
  if [ ! -f "docker/$name/Dockerfile" ]; then
    rootfs_tag "$name" | sed 's/-rootfs:/:/'
    return
  fi
  mapfile -t files < <(find "docker/$name" -type f | sort)
  echo "$LOCAL_REPO/$name:$(EXTRA=$(rootfs_tag "$name") hash_of "${files[@]}")"
}

# Starts the root filesystem builds of the named local images in the background.
start_rootfs() {
  local name tag
  for name in "$@"; do
    tag=$(rootfs_tag "$name")
    if image_exists "$tag" && [ -z "${KIT_REBUILD:-}" ]; then
      continue
    fi
    say "$name: building the root filesystem from Debian packages (log: build/logs/rootfs-$name.log)"
    docker/build-rootfs.sh "$name" "$tag" >"$logs/rootfs-$name.log" 2>&1 &
    ROOTFS_PID[$name]=$!
  done
}

# Waits for the root filesystem of the image that stands in for VAR, then
# builds the image from its docker/ folder and records it in CHOSEN.
finish_local() {
  local var=$1 name=${LOCAL_NAME[$1]} rootfs final
  if [ -n "${ROOTFS_PID[$name]:-}" ] && ! wait "${ROOTFS_PID[$name]}"; then
    show_log "$logs/rootfs-$name.log"
    die "building the $name root filesystem failed"
  fi
  rootfs=$(rootfs_tag "$name")
  final=$(final_tag "$name")
  if [ ! -f "docker/$name/Dockerfile" ]; then
    docker tag "$rootfs" "$final"
  elif ! image_exists "$final" || [ -n "${KIT_REBUILD:-}" ]; then
    say "$name: building $final"
    if ! docker build --force-rm --build-arg ROOTFS="$rootfs" -t "$final" "docker/$name" \
          >"$logs/image-$name.log" 2>&1; then
      show_log "$logs/image-$name.log"
      die "building the $name image failed"
    fi
  fi
  drop_stale_tags "$LOCAL_REPO/$name-rootfs" "$rootfs"
  drop_stale_tags "$LOCAL_REPO/$name" "$final"
  CHOSEN[$var]=$final
}

# Builds the Jaeger stand-in on the chosen Python base and records it in CHOSEN.
build_standin() {
  local base=${CHOSEN[BASE_IMAGE]} tag files
  mapfile -t files < <(find docker/jaeger-standin -type f -not -path '*/__pycache__/*' \
                         -not -path '*/tests/*' | sort)
  tag="$LOCAL_REPO/jaeger-standin:$(EXTRA=$base hash_of requirements.lock "${files[@]}")"
  if ! image_exists "$tag" || [ -n "${KIT_REBUILD:-}" ]; then
    say "jaeger: building the stand-in collector $tag"
    if ! docker build --force-rm -f docker/jaeger-standin/Dockerfile --build-arg BASE_IMAGE="$base" \
          -t "$tag" . >"$logs/image-jaeger-standin.log" 2>&1; then
      show_log "$logs/image-jaeger-standin.log"
      die "building the Jaeger stand-in failed"
    fi
  fi
  drop_stale_tags "$LOCAL_REPO/jaeger-standin" "$tag"
  CHOSEN[JAEGER_IMAGE]=$tag
}

# Fills CHOSEN with the public images that are here or can be pulled, and
# "local" for the others.
resolve_public() {
  local mode=$1 var image
  for var in "${IMAGE_VARS[@]}"; do
    image=$(public_image "$var")
    if [ "$mode" = public ] && { image_exists "$image" \
         || timeout 300 docker pull -q "$image" >>"$logs/pull.log" 2>&1; }; then
      CHOSEN[$var]=$image
    else
      [ "$mode" = public ] && say "$image cannot be pulled: using a local image instead"
      CHOSEN[$var]=local
    fi
  done
}

# Rewrites our keys in .env, keeping any other settings (and the secrets of
# scripts/env-secrets.sh).
write_env() {
  local var keys
  keys=$(IFS='|'; echo "${IMAGE_VARS[*]}")
  {
    echo "# Written by scripts/build-images.sh (the images the stack uses); other lines are kept."
    [ -f .env ] && grep -v -E "^($keys)=|^# Written by scripts/build-images.sh" .env || true
    for var in "${IMAGE_VARS[@]}"; do
      echo "$var=${CHOSEN[$var]}"
    done
  } >.env.tmp
  chmod 600 .env.tmp  # it holds the stack's secrets too
  mv .env.tmp .env
}

# ---- 3. service images ---------------------------------------------------

build_services() {
  local svc targets=()
  for svc in "${SERVICES[@]}"; do
    if [ -f "services/$svc/__main__.py" ]; then
      case "$svc" in
        book) targets+=(book-1) ;;
        *) targets+=("$svc") ;;
      esac
    else
      say "$svc: services/$svc/__main__.py does not exist yet; not built"
    fi
  done
  [ ${#targets[@]} -gt 0 ] || return 0
  say "services: building ${targets[*]} (log: build/logs/services.log)"
  : >"$logs/services.log"
  # One at a time: the first fills the shared build cache for the others.
  for svc in "${targets[@]}"; do
    if ! $COMPOSE build "$svc" >>"$logs/services.log" 2>&1; then
      show_log "$logs/services.log"
      die "building the $svc image failed"
    fi
  done
}

# The swarm tests' node image, always from Debian packages; prints its name.
swarm_node() {
  need_mmdebstrap
  start_rootfs swarm-node
  finish_local SWARM_NODE_IMAGE
  echo "${CHOSEN[SWARM_NODE_IMAGE]}"
}

main() {
  if [ "${1:-}" = swarm-node ]; then
    swarm_node
    return
  fi
  command -v docker >/dev/null 2>&1 || die "docker is not installed"
  # Compose reads the whole file even to build, and the file requires the secrets.
  scripts/env-secrets.sh
  wheelhouse
  local mode var locals=()
  mode=$(choose_mode)
  say "base images: $mode (set KIT_IMAGES=public|local to choose)"
  resolve_public "$mode"
  for var in "${IMAGE_VARS[@]}"; do
    if [ "${CHOSEN[$var]}" = local ] && [ "$var" != JAEGER_IMAGE ]; then
      locals+=("${LOCAL_NAME[$var]}")
    fi
  done
  if [ ${#locals[@]} -gt 0 ]; then
    need_mmdebstrap
    start_rootfs "${locals[@]}"
  fi

  # The Python images first, while the other root filesystems still build
  # (compose takes BASE_IMAGE from the environment before .env).
  if [ "${CHOSEN[BASE_IMAGE]}" = local ]; then finish_local BASE_IMAGE; fi
  if [ "${CHOSEN[JAEGER_IMAGE]}" = local ]; then build_standin; fi
  BASE_IMAGE=${CHOSEN[BASE_IMAGE]} build_services

  for var in ETCD_IMAGE REDIS_IMAGE POSTGRES_IMAGE PROMETHEUS_IMAGE; do
    if [ "${CHOSEN[$var]}" = local ]; then finish_local "$var"; fi
  done
  write_env
  for var in "${IMAGE_VARS[@]}"; do
    printf '    %s=%s\n' "$var" "${CHOSEN[$var]}" >&2
  done
  say "images ready"
}

main "$@"
