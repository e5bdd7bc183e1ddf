#!/usr/bin/env bash
# Installs what bench-run drives (Debian/Ubuntu, as root): wrk, nginx-light, HAProxy, h2load
# (nghttp2-client), and taskset/setpriv (util-linux). Skips what is already present.
set -euo pipefail

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

if [ ${#missing[@]} -eq 0 ]; then
    echo "nothing to install"
    exit 0
fi

# Unique package names, in a stable order.
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

# Debian starts the packaged nginx/HAProxy services on install; they do not disturb the benchmark
# (bench-run starts its own instances on free loopback ports), so they are left alone.
