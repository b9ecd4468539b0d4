#!/usr/bin/env bash
# Builds one Debian root filesystem with mmdebstrap and imports it as a Docker
# image, with no image registry involved.
#
# Usage: docker/build-rootfs.sh NAME TAG
#
# The recipe is docker/NAME/packages (one Debian package per line, '#' starts a
# comment) plus, optionally, docker/NAME/mmdebstrap-args (one extra mmdebstrap
# argument per line: dpkg path excludes, hooks). Every image is bookworm
# --variant=minbase with merged /usr, no documentation, man pages or
# translations. Packages come from the host's bookworm apt sources
# (KIT_DEBIAN_MIRROR overrides them). Downloaded .deb files are kept in
# build/debcache/NAME so a changed recipe does not download everything again.
set -euo pipefail

name=${1:?usage: build-rootfs.sh NAME TAG}
tag=${2:?usage: build-rootfs.sh NAME TAG}
root=$(cd "$(dirname "$0")/.." && pwd)
recipe="$root/docker/$name"
suite=bookworm

# Prints the apt sources lines to build from, one per line.
debian_sources() {
  if [ -n "${KIT_DEBIAN_MIRROR:-}" ]; then
    echo "deb $KIT_DEBIAN_MIRROR $suite main"
    echo "deb $KIT_DEBIAN_MIRROR $suite-updates main"
    return
  fi
  local lines=""
  if command -v apt-get >/dev/null 2>&1; then
    # The host's own bookworm repositories (mirror, proxy and security
    # archive included), without third-party ones.
    # shellcheck disable=SC2016  # $(...) here is apt's format syntax
    lines=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
              'Identifier: Packages' 2>/dev/null \
            | awk -v s="$suite" '$2 == s || index($2, s "-") == 1 {print "deb " $0}' \
            | sort -u)
  fi
  if [ -z "$lines" ]; then
    lines="deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main"
  fi
  echo "$lines"
}

packages=$(sed -e 's/#.*//' "$recipe/packages" | tr -s ' \n' ',' | sed -e 's/^,//' -e 's/,$//')
extra=()
if [ -f "$recipe/mmdebstrap-args" ]; then
  mapfile -t extra < <(grep -v -e '^\s*#' -e '^\s*$' "$recipe/mmdebstrap-args")
fi
mapfile -t sources < <(debian_sources)

cache="$root/build/debcache/$name"
mkdir -p "$cache"

# shellcheck disable=SC2016  # "$1" in a hook is the root directory, for mmdebstrap
mmdebstrap --variant=minbase --format=tar --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in $cache /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives $cache" \
  --include="$packages" \
  "${extra[@]}" \
  "$suite" - "${sources[@]}" \
| docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    - "$tag" >/dev/null
echo "built $tag"
