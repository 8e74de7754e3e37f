#!/usr/bin/env bash
# The project's one test command: formatting, then every test (CPU backend, plus the
# wgpu backend on whatever Vulkan driver is present: lavapipe in CI), then the real-window
# test (the built app under Xvfb, driven with xdotool).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo test --locked "$@"
target="${CARGO_TARGET_DIR:-target}"
shared="${DC_SHARED:-../shared}"
./scripts/real_window.sh "$target/debug/dynamicrafter-studio" "$shared/fixtures/tiny" "$target/real-window"
