#!/usr/bin/env bash
# The real-window test: the built app under Xvfb, driven with xdotool like a user. It chooses
# the input image in the studio's file browser (Xvfb has no file-dialog service), types a
# prompt, generates with the tiny fixture model on the CPU backend, waits for the history
# entry, exports a GIF through the export dialog, and takes a screenshot and an animated
# capture of the frames sharpening. Any step that does not happen fails the script.
#
#   scripts/real_window.sh <binary> <fixture dir> [output dir]
set -euo pipefail
BIN=$(realpath "${1:?usage: real_window.sh <binary> <fixture dir> [output dir]}")
FIX=$(realpath "${2:?fixture dir}")
OUT=$(realpath -m "${3:-target/real-window}")
PROMPT="a cat looking around, wind in the grass"
for tool in Xvfb xdotool import convert; do
  command -v "$tool" >/dev/null || { echo "real-window test: $tool is missing (apt install xvfb xdotool imagemagick)"; exit 1; }
done
rm -rf "$OUT"; mkdir -p "$OUT/capture"
fail() { echo "real-window test FAILED: $*"; import -window root "$OUT/failure.png" 2>/dev/null || true; exit 1; }

. "$(dirname "$0")/private_session.sh"
app_session 1600x1000 "$OUT/xvfb.log"

"$BIN" --backend cpu --fixture-model "$FIX/model.ckpt" "$FIX/config.json" --image "$FIX/input.png" >"$OUT/app.log" 2>&1 &
APP=$!
W=$(timeout 60 xdotool search --sync --name "DynamiCrafter Studio" | head -1) || fail "no window within 60 s"
echo "window $W"
sleep 2
xdotool windowfocus --sync "$W" || true

# Open image… (Ctrl+O) without a file-dialog service: the studio's own browser opens beside
# the current image; typing a full path in its File field and Enter puts that image in the slot
# (checked below: the saved clip records the chosen file's hash).
CHOSEN="$OUT/pick/chosen.png"
mkdir -p "$OUT/pick"
convert "$FIX/input.png" -negate "$CHOSEN" || fail "cannot make the image to choose"
xdotool key --window "$W" ctrl+o
sleep 1.5
import -window "$W" "$OUT/file_browser.png" || true
xdotool mousemove --window "$W" 480 575 click 1
sleep 0.3
xdotool key --window "$W" ctrl+a
xdotool type --window "$W" --delay 10 "$CHOSEN"
xdotool key --window "$W" Return
sleep 1.5

# The prompt (Ctrl+L focuses it), then Ctrl+Enter until the model is loaded and it runs.
xdotool key --window "$W" ctrl+l
sleep 0.3
xdotool type --window "$W" --delay 30 "$PROMPT"
entry=""
for attempt in $(seq 1 20); do
  xdotool key --window "$W" ctrl+Return
  # Capture the live preview while it samples.
  for k in $(seq 1 12); do
    import -window "$W" "$OUT/capture/$(printf '%02d_%02d' "$attempt" "$k").png" 2>/dev/null || true
    sleep 0.25
  done
  entry=$(find "$HIST" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | head -1 || true)
  [ -n "$entry" ] && [ -f "$entry/settings.json" ] && break
  sleep 2
done
[ -n "$entry" ] && [ -f "$entry/settings.json" ] || fail "no history entry after generating"
grep -q "$PROMPT" "$entry/settings.json" || fail "the typed prompt is not in the saved settings"
python3 - "$CHOSEN" "$entry/settings.json" <<'PY' || fail "the clip was not made from the image chosen in the file browser"
import json, sys
h = 0xCBF29CE484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
recorded = json.load(open(sys.argv[2]))["input_hash"]
print(f"input hash {recorded}, chosen file {h:016x}")
sys.exit(0 if recorded == f"{h:016x}" else 1)
PY
echo "history entry $entry"
sleep 1
import -window "$W" "$OUT/screenshot.png" || fail "no screenshot"

# Export: Ctrl+E opens the dialog with the keyboard in the path field; Enter exports.
xdotool key --window "$W" ctrl+e
sleep 1
xdotool key --window "$W" ctrl+a
xdotool type --window "$W" --delay 10 "$OUT/clip.gif"
xdotool key --window "$W" Return
for _ in $(seq 1 60); do
  [ -s "$OUT/clip.gif" ] && break
  sleep 0.5
done
[ -s "$OUT/clip.gif" ] || fail "the export dialog wrote no GIF"
head -c 6 "$OUT/clip.gif" | grep -q GIF89a || fail "the export is not a GIF"
import -window "$W" "$OUT/after_export.png" || true
# The export dialog once more, for its screenshot (its Interpolate row; the player's row is in
# screenshot.png).
xdotool key --window "$W" ctrl+e
sleep 1
import -window "$W" "$OUT/export_dialog.png" || true

# The animated capture: half size, the frames that changed.
convert -delay 25 -loop 0 "$OUT"/capture/*.png -resize 50% -layers Optimize "$OUT/sharpening.gif" || fail "no capture"
echo "real-window test passed: $OUT/screenshot.png, $OUT/clip.gif, $OUT/sharpening.gif"
