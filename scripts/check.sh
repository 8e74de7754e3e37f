#!/usr/bin/env bash
# The project's one test command: formatting, then every test (CPU backend, plus the
# wgpu backend on whatever Vulkan driver is present: lavapipe in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo test --locked "$@"
