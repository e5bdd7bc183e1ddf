#!/usr/bin/env bash
# Installs what bench-run drives (Debian/Ubuntu, as root): wrk, nginx-light, HAProxy, h2load
# (nghttp2-client), taskset/setpriv (util-linux), and LiteLLM's proxy (`litellm[proxy]`, pinned)
# in a venv at bench/.venv-litellm. Skips what is already present.
set -euo pipefail

LITELLM_VERSION=1.108.7
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$BENCH_DIR/.venv-litellm"

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (apt-get install)" >&2
    exit 1
fi

declare -A needs=(
    [wrk]=wrk
    [nginx]=nginx-light
    [haproxy]=haproxy
    [h2load]=nghttp2-client
    [taskset]=util-linux
    [setpriv]=util-linux
)

missing=()
for cmd in "${!needs[@]}"; do
    if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; then
        echo "present: $cmd"
    else
        missing+=("${needs[$cmd]}")
    fi
done

# LiteLLM needs Python 3 with venv and pip (Debian: python3-venv).
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "nothing to install from apt"
else
    # Unique package names, in a stable order.
    mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "installing: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

# LiteLLM's proxy, the P2/P3 baseline (later versions need a package this registry lacks).
installed_version() { "$VENV/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p'; }
if [ -x "$VENV/bin/litellm" ] && [ "$(installed_version)" = "$LITELLM_VERSION" ]; then
    echo "present: litellm $LITELLM_VERSION ($VENV)"
else
    echo "installing: litellm[proxy]==$LITELLM_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi

# Debian starts the packaged nginx/HAProxy services on install; they do not disturb the benchmark
# (bench-run starts its own instances on free loopback ports), so they are left alone.
