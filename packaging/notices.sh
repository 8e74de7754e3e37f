#!/usr/bin/env bash
# Regenerates packaging/THIRD-PARTY-NOTICES.txt from Cargo.lock with cargo-about (a
# maintained tool: `cargo install cargo-about --locked`), offline. Run it after changing
# dependencies; the test `identity::tests::the_notices_list_every_crate_in_the_lock_file`
# fails until it has been run. The file is compiled into the app (About dialog) and
# shipped in every package.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-about >/dev/null || { echo "notices.sh: cargo-about is missing: cargo install cargo-about --locked" >&2; exit 1; }
cargo about generate --offline --locked -c packaging/about.toml packaging/about.hbs -o packaging/THIRD-PARTY-NOTICES.txt
echo "packaging/THIRD-PARTY-NOTICES.txt: $(wc -c < packaging/THIRD-PARTY-NOTICES.txt) bytes, $(grep -c '' packaging/THIRD-PARTY-NOTICES.txt) lines"
