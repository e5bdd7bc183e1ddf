#!/usr/bin/env bash
# The one command of bench/README.md: install the baselines and the load generators (as root,
# see install.sh), build Sluice and the harness in release mode, run every scenario and write
# bench/RESULTS.md. Arguments go to bench-run (`--quick`, `--scenarios p1,p4`…).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash bench/install.sh
cargo build --locked --release -p sluice -p sluice-bench
exec target/release/bench-run "$@"
