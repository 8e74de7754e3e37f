#!/usr/bin/env bash
# Smoke test of the Windows build under Wine (Debian's wine64), CPU backend:
#   --version; parity on a fixture (every case must pass); animate writes a GIF; the NSIS
#   installer installs silently, the installed .exe runs, the Start-menu entry and the
#   uninstaller exist, and the silent uninstall removes the program.
# Usage: packaging/wine-smoke.sh [FIXTURE_DIR]   (after packaging/build.sh windows)
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/identity.sh
fix=$(realpath "${1:-${DC_SHARED:-../shared}/fixtures/tiny}")
wine=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)
[ -x "$wine" ] || { echo "wine-smoke: wine64 is missing (apt-get install wine64)" >&2; exit 1; }
exe=packaging/build/windows/app/$BIN_NAME.exe
setup=dist/DynamiCrafter-Studio-$VERSION-setup.exe
[ -f "$exe" ] && [ -f "$setup" ] || { echo "wine-smoke: run packaging/build.sh windows first" >&2; exit 1; }

WINEPREFIX=$(mktemp -d)/prefix; export WINEPREFIX
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n"
out=$(mktemp -d)
win() { printf 'Z:%s' "$(realpath -m "$1" | sed 's|/|\\|g')"; }
# Wine wants a display for its first-run set-up even for console output.
if [ -z "${DISPLAY:-}" ]; then
  Xvfb :77 -screen 0 1024x768x24 >/dev/null 2>&1 & xvfb=$!
  trap 'kill $xvfb 2>/dev/null || true; "$(dirname "$wine")"/wineserver -k 2>/dev/null || true' EXIT
  export DISPLAY=:77; sleep 1
fi
step() { printf '\n$ %s\n' "$*"; }

# Debian's Wine 8.0 lacks bcryptprimitives.dll (Windows 10+ has it; Rust's standard library
# takes its random numbers from it): a stand-in for this test only, never shipped.
"$wine" wineboot -u >/dev/null 2>&1
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  packaging/windows/wine-bcryptprimitives.c -ladvapi32

step "$BIN_NAME.exe --version"
"$wine" "$exe" --version

step "$BIN_NAME.exe parity $(win "$fix") --backend cpu"
"$wine" "$exe" parity "$(win "$fix")" --backend cpu | tee "$out/parity.txt" | tail -n 5
grep -Eq '^parity: [0-9]+ passed, 0 failed' "$out/parity.txt" || { echo "wine-smoke: parity did not pass every case" >&2; exit 1; }

step "$BIN_NAME.exe animate … --backend cpu --out clip.gif"
"$wine" "$exe" animate --model "$(win "$fix/model.ckpt")" --config "$(win "$fix/config.json")" \
  --image "$(win "$fix/input.png")" --prompt "a cat sitting on the grass" --steps 3 --seed 42 \
  --backend cpu --out "$(win "$out/clip.gif")"
head -c 6 "$out/clip.gif" | grep -q GIF89a || { echo "wine-smoke: no GIF written" >&2; exit 1; }
echo "clip.gif: $(stat -c %s "$out/clip.gif") bytes"

step "$(basename "$setup") /S"
"$wine" "$setup" /S
installed="$WINEPREFIX/drive_c/Program Files/DynamiCrafter Studio"
ls "$installed"
lnk=$(find "$WINEPREFIX/drive_c" -name "DynamiCrafter Studio.lnk" | head -n1)
[ -n "$lnk" ] || { echo "wine-smoke: no Start-menu entry" >&2; exit 1; }
echo "Start menu: ${lnk#"$WINEPREFIX/"}"

step "C:\\Program Files\\DynamiCrafter Studio\\$BIN_NAME.exe --version"
"$wine" "C:\\Program Files\\DynamiCrafter Studio\\$BIN_NAME.exe" --version

step "uninstall.exe /S"
"$wine" "C:\\Program Files\\DynamiCrafter Studio\\uninstall.exe" /S
for _ in $(seq 1 30); do [ -e "$installed/$BIN_NAME.exe" ] || break; sleep 1; done
[ ! -e "$installed/$BIN_NAME.exe" ] || { echo "wine-smoke: the uninstaller left the program" >&2; exit 1; }
[ -z "$(find "$WINEPREFIX/drive_c" -name "DynamiCrafter Studio.lnk")" ] || { echo "wine-smoke: the Start-menu entry stayed" >&2; exit 1; }
echo "uninstalled: program and Start-menu entry removed"
echo
echo "wine smoke test passed"
