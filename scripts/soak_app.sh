#!/usr/bin/env bash
# The soak through the app (issue 17; `bench --soak N` is the same through the worker alone):
# the built app under Xvfb with a fixture model, N generations queued with Ctrl+Enter as a
# user queues them, and the app's resident memory read from /proc once 1, 10, 100 … and N
# clips are in its history, as ratios to the first, with the least-squares slope after ten
# warm-up clips. Not part of the test command (minutes); prints a table.
#
#   scripts/soak_app.sh <binary> <fixture dir> [N (100)] [backend (cpu)]
set -euo pipefail
BIN=$(realpath "${1:?usage: soak_app.sh <binary> <fixture dir> [N] [backend]}")
FIX=$(realpath "${2:?fixture dir}")
N=${3:-100}
BACKEND=${4:-cpu}
OUT=$(mktemp -d)
for tool in Xvfb xdotool python3; do
  command -v "$tool" >/dev/null || { echo "soak_app: $tool is missing (apt install xvfb xdotool)"; exit 1; }
done
. "$(dirname "$0")/private_session.sh"
app_session 1600x1000 "$OUT/xvfb.log"
"$BIN" --backend "$BACKEND" --fixture-model "$FIX/model.ckpt" "$FIX/config.json" --image "$FIX/input.png" >"$OUT/app.log" 2>&1 &
APP=$!
W=$(timeout 60 xdotool search --sync --name "DynamiCrafter Studio" | head -1) || { echo "soak_app: no window"; exit 1; }
sleep 2
xdotool windowfocus --sync "$W" || true
xdotool key --window "$W" ctrl+l
xdotool type --window "$W" --delay 20 "a lighthouse, waves crashing"
clips() { if [ -d "$HIST" ]; then find "$HIST" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l; else echo 0; fi; }
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$APP/status"; }
# Two requests ahead of the finished clips (one running, one queued), as a user queueing more;
# a request that did not arrive (a key lost, the model still loading) is sent again after 30 s
# without a new clip.
sleep 3
: >"$OUT/samples"
seen=0; pressed=0; start=$(date +%s); last=$start
while [ "$seen" -lt "$N" ]; do
  kill -0 "$APP" 2>/dev/null || { echo "soak_app: the app exited"; tail "$OUT/app.log"; exit 1; }
  now=$(date +%s)
  c=$(clips)
  if [ "$c" -gt "$seen" ]; then
    seen=$c; last=$now
    echo "$c $(rss) $(( now - start ))" >>"$OUT/samples"
  fi
  if [ "$pressed" -lt $(( seen + 2 )) ] && [ "$pressed" -lt "$N" ] || [ $(( now - last )) -ge 30 ]; then
    xdotool key --window "$W" ctrl+Return
    pressed=$(( pressed + 1 )); [ $(( now - last )) -ge 30 ] && last=$now
  fi
  [ $(( now - start )) -lt $(( 60 * N + 600 )) ] || { echo "soak_app: only $seen of $N clips"; exit 1; }
  sleep 0.2
done
python3 - "$OUT/samples" "$N" "$BACKEND" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
first = rows[0][1]
print(f"soak through the app: {n} generations on {sys.argv[3]}, app RSS when each count of clips was reached")
print(f"{'clips':>6} {'RSS MB':>9} {'x first':>8} {'elapsed s':>10}")
marks, m = [], 1
while m <= n:
    marks.append(m); m *= 10
if marks[-1] != n:
    marks.append(n)
for mark in marks:
    row = next(r for r in rows if r[0] >= mark)
    print(f"{int(row[0]):>6} {row[1] / 1e6:>9.1f} {row[1] / first:>8.3f} {int(row[2]):>10}")
pts = [(c, r) for c, r, _ in rows if c > 10]
if len(pts) >= 2:
    mx = sum(c for c, _ in pts) / len(pts); my = sum(r for _, r in pts) / len(pts)
    sxy = sum((c - mx) * (r - my) for c, r in pts); sxx = sum((c - mx) ** 2 for c, _ in pts)
    print(f"slope after 10 warm-up clips ({len(pts)} points): {sxy / sxx / 1e3:+.1f} KB per generation")
PY
