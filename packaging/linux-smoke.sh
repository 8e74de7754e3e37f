#!/usr/bin/env bash
# Installs the .deb as a user would and runs what it installed (needs root, Xvfb, xdotool,
# ImageMagick): `--version`; the desktop entry's Exec line with an image, as a file manager's
# "Open with" runs it, under Xvfb in a fresh home (no model: the first-run download list),
# finding the window by the app id (the desktop file's StartupWMClass); a download from a
# local HTTP server (a mirror) through the app's first screen and through the CLI; removal. Screenshots go to OUT.
#
#   packaging/linux-smoke.sh dist/dynamicrafter-studio_<v>_amd64.deb IMAGE [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/identity.sh
DEB=$(realpath "${1:?usage: linux-smoke.sh DEB IMAGE [OUT]}")
IMG=$(realpath "${2:?an image to open}")
OUT=$(realpath -m "${3:-packaging/build/linux-smoke}")
rm -rf "$OUT"; mkdir -p "$OUT"
[ "$(id -u)" = 0 ] && sudo=() || sudo=(sudo)
fail() { echo "linux smoke FAILED: $*" >&2; [ -n "${DISPLAY:-}" ] && import -window root "$OUT/failure.png" 2>/dev/null; exit 1; }

echo "== install $(basename "$DEB")"
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$DEB" >"$OUT/apt.log" 2>&1 || fail "apt-get install (see $OUT/apt.log)"
dpkg -L "$BIN_NAME" | grep -E "bin/|applications/|metainfo/|scalable|THIRD" | sed 's/^/  /'
command -v "$BIN_NAME" >/dev/null || fail "$BIN_NAME is not on the PATH"
echo "== $BIN_NAME --version"
"$BIN_NAME" --version | tee "$OUT/version.txt"
grep -q "^$BIN_NAME $VERSION" "$OUT/version.txt" || fail "--version does not print $VERSION"

echo "== the desktop entry, as Open with runs it"
desktop=/usr/share/applications/$APP_ID.desktop
exec_line=$(sed -n 's/^Exec=//p' "$desktop")
[[ $exec_line == *"%F"* ]] || fail "the Exec line takes no %F"
. scripts/private_session.sh
private_session 1280x800 "$OUT/xvfb.log"
APP=""
trap 'kill $APP $XVFB 2>/dev/null || true' EXIT
# A mirror on this machine, serving a file at the official model's path.
srv=$(mktemp -d)
mkdir -p "$srv/Doubiiu/DynamiCrafter_512/resolve/main"
head -c 3000000 /dev/urandom >"$srv/Doubiiu/DynamiCrafter_512/resolve/main/model.ckpt"
port=$((20000 + RANDOM % 10000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$srv" >"$OUT/http.log" 2>&1 &
HTTP=$!
trap 'kill $APP $XVFB $HTTP 2>/dev/null || true' EXIT
sleep 1
# shellcheck disable=SC2086 # the Exec line is split as the desktop entry spec says
set -- ${exec_line/\%F/$IMG}
"$@" >"$OUT/app.log" 2>&1 &
APP=$!
W=$(timeout 60 xdotool search --sync --class "$APP_ID" | head -1) || fail "no window of class $APP_ID within 60 s"
echo "window $W has the class $APP_ID (StartupWMClass)"
sleep 4
import -window "$W" "$OUT/first-run.png" || fail "no screenshot"
echo "screenshot: $OUT/first-run.png"

echo "== download in the app, from the mirror"
# The first-run list in the default 1280x800 window: the Mirror field, then Download (512).
served="$srv/Doubiiu/DynamiCrafter_512/resolve/main/model.ckpt"
xdotool windowfocus --sync "$W" || true
xdotool mousemove --window "$W" 230 402 click 1
sleep 0.3
xdotool type --window "$W" --delay 20 "http://127.0.0.1:$port"
xdotool mousemove --window "$W" 314 223 click 1
got=$HOME/.local/share/$BIN_NAME/models/downloads/dynamicrafter_512/model.ckpt
for _ in $(seq 1 60); do cmp -s "$got" "$served" && break; sleep 0.5; done
sleep 2
import -window "$W" "$OUT/downloaded.png" || true
cmp "$got" "$served" || fail "the app did not download the mirror's file (see $OUT/downloaded.png)"
grep -q "GET /Doubiiu/DynamiCrafter_512/resolve/main/model.ckpt" "$OUT/http.log" || fail "the mirror saw no request"
echo "the app downloaded $(stat -c %s "$got") bytes from the mirror (screenshot: $OUT/downloaded.png)"
xdotool mousemove --window "$W" 1137 12 click 1
sleep 1
import -window "$W" "$OUT/about.png" || true
echo "About: $OUT/about.png"
kill "$APP"; wait "$APP" 2>/dev/null || true; APP=""

echo "== download from a local server with the installed binary"
sleep 1
"$BIN_NAME" download 512 --url "http://127.0.0.1:$port/Doubiiu/DynamiCrafter_512/resolve/main/model.ckpt" \
  --no-import --dest "$HOME/dl" 2>&1 | tr '\r' '\n' | tail -n 3
cmp "$HOME/dl/dynamicrafter_512/model.ckpt" "$served" || fail "the download differs from the served file"
echo "downloaded $(stat -c %s "$HOME/dl/dynamicrafter_512/model.ckpt") bytes, identical"

echo "== remove"
"${sudo[@]}" apt-get remove -y -qq "$BIN_NAME" >>"$OUT/apt.log" 2>&1 || fail "apt-get remove"
! command -v "$BIN_NAME" >/dev/null || fail "$BIN_NAME is still installed"
[ ! -e "$desktop" ] || fail "$desktop is still there"
echo "linux smoke passed"
