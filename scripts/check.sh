#!/usr/bin/env bash
# The project's one test command: the system packages it needs (scripts/setup.sh), then
# formatting, every test (CPU backend, plus the wgpu backend on whatever Vulkan driver is
# present: lavapipe in CI), the packaging files' validators, and the real-window test (the
# built app under Xvfb, driven with xdotool).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Quiet Mesa when the session has no runtime folder.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo fmt --check
packaging/build.sh check
cargo test --locked "$@"
target="${CARGO_TARGET_DIR:-target}"
shared="${DC_SHARED:-../shared}"
./scripts/real_window.sh "$target/debug/dynamicrafter-studio" "$shared/fixtures/tiny" "$target/real-window"
