#!/usr/bin/env bash
# Installs the servers that the unit tests start as real processes
# (etcd, Redis, PostgreSQL), and the headless browser the trace view's tests
# drive (Chromium), from Debian's packages, if they are missing.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server etcd-client)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || need+=(chromium fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${need[*]} (install them with your package manager)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The tests start their own server processes; the packaged services stay off.
for svc in etcd redis-server postgresql; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
