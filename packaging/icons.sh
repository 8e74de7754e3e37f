#!/usr/bin/env bash
# Renders the app icon (assets/icon.svg) to every size a platform needs:
#   OUT/hicolor/<N>x<N>/apps/<APP_ID>.png for N in 16 24 32 48 64 128 256 512,
#   OUT/hicolor/scalable/apps/<APP_ID>.svg, OUT/icon.ico (Windows), OUT/AppIcon.icns (macOS).
# Tools from Debian: librsvg2-bin (rsvg-convert), icoutils (icotool), icnsutils (png2icns).
# `--update` also refreshes the two renders the build itself needs, which are committed so
# that building needs none of these tools: assets/icon-256.png (the window icon) and
# packaging/windows/icon.ico (embedded in the .exe).
# Usage: packaging/icons.sh [OUT] [--update]     (OUT defaults to packaging/build/icons)
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/identity.sh

out=packaging/build/icons
update=0
for a in "$@"; do
  case "$a" in
    --update) update=1 ;;
    *) out=$a ;;
  esac
done
for t in rsvg-convert icotool png2icns; do
  command -v "$t" >/dev/null || { echo "icons.sh: $t is missing (apt-get install librsvg2-bin icoutils icnsutils)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/hicolor/scalable/apps"
cp assets/icon.svg "$out/hicolor/scalable/apps/$APP_ID.svg"
for n in 16 24 32 48 64 128 256 512 1024; do
  png="$out/png/$n.png"
  mkdir -p "$out/png"
  rsvg-convert -w "$n" -h "$n" assets/icon.svg -o "$png"
  if [ "$n" -le 512 ]; then
    mkdir -p "$out/hicolor/${n}x${n}/apps"
    cp "$png" "$out/hicolor/${n}x${n}/apps/$APP_ID.png"
  fi
done
# Windows: 16–256 in one .ico (256 stored as PNG, as Windows expects).
icotool -c -o "$out/icon.ico" "$out"/png/{16,24,32,48,64,128}.png -r "$out/png/256.png"
# macOS: the sizes png2icns knows (ic07–ic10 and the small ones).
png2icns "$out/AppIcon.icns" "$out"/png/{16,32,48,128,256,512,1024}.png >/dev/null

if [ "$update" = 1 ]; then
  cp "$out/png/256.png" assets/icon-256.png
  cp "$out/icon.ico" packaging/windows/icon.ico
  echo "updated assets/icon-256.png and packaging/windows/icon.ico"
fi
echo "icons in $out"
