#!/usr/bin/env bash
# Make sure the real services the test suite starts are installed:
# redis-server, PostgreSQL server binaries, Chromium.  As root this installs
# what is missing with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if ! command -v pg_dump >/dev/null 2>&1; then
  missing+=(postgresql-client)
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Chinese glyphs for the admin pages' screenshots in browser tests.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  missing+=(fonts-noto-cjk)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts services on install; the tests start their own.
  service redis-server stop >/dev/null 2>&1 || true
  exit 0
fi

echo "missing system packages: ${missing[*]}" >&2
echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
exit 1
