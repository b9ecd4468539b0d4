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
#    then a small Dockerfile per image). Each local image is tagged with a hash
#    of its recipe and skipped while that tag exists. Independent root
#    filesystems are built in parallel. Jaeger has no Debian package: the local
#    path uses the stand-in collector in docker/jaeger-standin.
# 3. The service images (services/*/Dockerfile), built by compose from the
#    compose file with BASE_IMAGE from .env; Docker's layer cache makes a
#    rebuild of unchanged code take seconds.
#
# Logs of the slow steps go to build/logs/. Set KIT_REBUILD=1 to rebuild the
# local base images even when their tags exist.
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
ROOTFS_IMAGES=(python etcd redis postgres prometheus)
SERVICES=(book user gateway)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints the tail of a log file to stderr, to explain a failure.
show_log() {
  printf -- '---- last lines of %s ----\n' "$1" >&2
  tail -n 40 "$1" >&2 || true
}

# Prints the first 12 hex digits of the sha256 of the given files' contents
# (and names) plus any extra words from the environment variable EXTRA.
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

# The public image named as the default of VAR in docker-compose.yml, so the
# names live in one place: `image: ${VAR:-name}`.
public_image() {
  sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" docker-compose.yml | head -n 1
}

# ---- 1. wheelhouse -------------------------------------------------------

wheelhouse() {
  local dir="$root/build/wheelhouse" pip="${PIP:-$root/.venv/bin/pip}"
  local args=(--isolated download --only-binary=:all: --implementation cp
              --python-version 3.11 --platform manylinux2014_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
  # Not in the lock, needed in the images: setuptools builds kitcore inside
  # the image (build isolation, no index); redis needs async-timeout on Python
  # older than 3.11.3, and Debian bookworm's python3 is 3.11.2.
  local extra=("setuptools>=68" "async-timeout==5.0.1")
  local want
  want=$(EXTRA="${args[*]} ${extra[*]}" hash_of requirements.lock)
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then
    say "wheelhouse: up to date with requirements.lock"
    return
  fi
  say "wheelhouse: downloading wheels for requirements.lock (log: build/logs/wheelhouse.log)"
  rm -rf "$dir.tmp"
  if ! "$pip" "${args[@]}" -r requirements.lock "${extra[@]}" -d "$dir.tmp" \
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
  local name=$1 files=(docker/build-rootfs.sh "docker/$name/packages")
  [ -f "docker/$name/mmdebstrap-args" ] && files+=("docker/$name/mmdebstrap-args")
  echo "$LOCAL_REPO/$name-rootfs:$(hash_of "${files[@]}")"
}

final_tag() {
  local name=$1
  if [ ! -f "docker/$name/Dockerfile" ]; then
    rootfs_tag "$name" | sed 's/-rootfs:/:/'
    return
  fi
  local files
  mapfile -t files < <(find "docker/$name" -type f | sort)
  echo "$LOCAL_REPO/$name:$(EXTRA=$(rootfs_tag "$name") hash_of "${files[@]}")"
}

# Builds the local images named in $@ (root filesystems in parallel).
build_local() {
  local name tag pids=() names=() failed=0 i
  for name in "$@"; do
    tag=$(rootfs_tag "$name")
    if image_exists "$tag" && [ -z "${KIT_REBUILD:-}" ]; then
      continue
    fi
    say "$name: building the root filesystem from Debian packages (log: build/logs/rootfs-$name.log)"
    docker/build-rootfs.sh "$name" "$tag" >"$logs/rootfs-$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      show_log "$logs/rootfs-${names[$i]}.log"
      failed=1
    fi
  done
  [ "$failed" -eq 0 ] || die "building a root filesystem failed"

  for name in "$@"; do
    local rootfs final
    rootfs=$(rootfs_tag "$name")
    final=$(final_tag "$name")
    if [ ! -f "docker/$name/Dockerfile" ]; then
      docker tag "$rootfs" "$final"
    elif ! image_exists "$final" || [ -n "${KIT_REBUILD:-}" ]; then
      say "$name: building $final"
      if ! docker build --build-arg ROOTFS="$rootfs" -t "$final" "docker/$name" \
            >"$logs/image-$name.log" 2>&1; then
        show_log "$logs/image-$name.log"
        die "building the $name image failed"
      fi
    fi
    drop_stale_tags "$LOCAL_REPO/$name-rootfs" "$rootfs"
    drop_stale_tags "$LOCAL_REPO/$name" "$final"
  done
}

standin_tag() {
  local base=$1 files
  mapfile -t files < <(find docker/jaeger-standin -type f -not -path '*/__pycache__/*' \
                         -not -path '*/tests/*' | sort)
  echo "$LOCAL_REPO/jaeger-standin:$(EXTRA=$base hash_of requirements.lock "${files[@]}")"
}

# Builds the Jaeger stand-in collector on the given Python base image.
build_standin() {
  local tag=$1 base=$2
  if ! image_exists "$tag" || [ -n "${KIT_REBUILD:-}" ]; then
    say "jaeger: building the stand-in collector $tag"
    if ! docker build -f docker/jaeger-standin/Dockerfile --build-arg BASE_IMAGE="$base" \
          -t "$tag" . >"$logs/image-jaeger-standin.log" 2>&1; then
      show_log "$logs/image-jaeger-standin.log"
      die "building the Jaeger stand-in failed"
    fi
  fi
  drop_stale_tags "$LOCAL_REPO/jaeger-standin" "$tag"
}

IMAGE_VARS=(BASE_IMAGE ETCD_IMAGE REDIS_IMAGE POSTGRES_IMAGE PROMETHEUS_IMAGE JAEGER_IMAGE)
declare -A LOCAL_NAME=([BASE_IMAGE]=python [ETCD_IMAGE]=etcd [REDIS_IMAGE]=redis
                       [POSTGRES_IMAGE]=postgres [PROMETHEUS_IMAGE]=prometheus
                       [JAEGER_IMAGE]=jaeger-standin)

# Prints VAR=image lines for every base image of the stack, building the
# local ones that are needed.
base_images() {
  local mode=$1 var image want_local=()
  declare -A chosen=()
  for var in "${IMAGE_VARS[@]}"; do
    image=$(public_image "$var")
    if [ "$mode" = public ] && { image_exists "$image" \
         || timeout 300 docker pull -q "$image" >>"$logs/pull.log" 2>&1; }; then
      chosen[$var]=$image
      continue
    fi
    [ "$mode" = public ] && say "$image cannot be pulled: using a local image instead"
    chosen[$var]=local
    [ "$var" = JAEGER_IMAGE ] || want_local+=("${LOCAL_NAME[$var]}")
  done
  if [ ${#want_local[@]} -gt 0 ]; then
    need_mmdebstrap
    build_local "${want_local[@]}"
  fi
  for var in "${IMAGE_VARS[@]}"; do
    [ "${chosen[$var]}" = local ] || continue
    if [ "$var" = JAEGER_IMAGE ]; then
      chosen[$var]=$(standin_tag "${chosen[BASE_IMAGE]}")
      build_standin "${chosen[$var]}" "${chosen[BASE_IMAGE]}"
    else
      chosen[$var]=$(final_tag "${LOCAL_NAME[$var]}")
    fi
  done
  for var in "${IMAGE_VARS[@]}"; do
    echo "$var=${chosen[$var]}"
  done
}

# Rewrites our keys in .env, keeping any other settings the user put there.
write_env() {
  local lines=$1 keys
  keys=$(echo "$lines" | cut -d= -f1 | paste -sd'|')
  {
    echo "# Written by scripts/build-images.sh (the images the stack uses); other lines are kept."
    [ -f .env ] && grep -v -E "^($keys)=|^# Written by scripts/build-images.sh" .env || true
    echo "$lines"
  } >.env.tmp
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

main() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed"
  wheelhouse
  local mode lines
  mode=$(choose_mode)
  say "base images: $mode (set KIT_IMAGES=public|local to choose)"
  lines=$(base_images "$mode")
  write_env "$lines"
  echo "$lines" | sed 's/^/    /'
  build_services
  say "images ready"
}

main "$@"
