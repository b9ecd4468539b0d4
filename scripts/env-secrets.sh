#!/usr/bin/env bash
# Gives this checkout its own secrets: writes random values for the stack's
# secret variables into .env (git-ignored, mode 600) when they are missing,
# and keeps every other line. Run by `make up` and `make images`; the values
# stay the same from then on (delete a line to get a new one, then recreate
# the stack; POSTGRES_PASSWORD only takes effect on a new database volume).
#
# docker-compose.yml refuses to start without them, so no stack ever runs
# with a value written in the repository.
set -euo pipefail

cd "$(dirname "$0")/.."
SECRETS=(KIT_JWT_SECRET KIT_ADMIN_PASSWORD POSTGRES_PASSWORD)

# Prints 40 random letters and digits (safe inside a URL and a YAML file).
random_value() {
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true
}

umask 077
touch .env
added=()
for var in "${SECRETS[@]}"; do
  if ! grep -q -E "^${var}=." .env; then
    grep -v -E "^${var}=" .env >.env.tmp || true
    printf '%s=%s\n' "$var" "$(random_value)" >>.env.tmp
    mv .env.tmp .env
    added+=("$var")
  fi
done
chmod 600 .env
if [ ${#added[@]} -gt 0 ]; then
  printf '==> .env: new random %s (kept from now on)\n' "${added[*]}" >&2
fi
