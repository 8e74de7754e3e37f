#!/usr/bin/env bash
# Installs what the test command needs from the system, before anything builds: Mesa's
# software Vulkan driver (lavapipe) so the wgpu backend runs without a GPU; Xvfb, xdotool,
# ImageMagick and the X11 client libraries for the real-window test; the desktop-file and
# AppStream validators and NSIS for the packaging check. Debian and Ubuntu: installs the missing
# packages with apt-get (as root, or through sudo); elsewhere it names what is missing.
set -euo pipefail
pkgs=(mesa-vulkan-drivers libvulkan1 xvfb xdotool imagemagick libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6
      libx11-xcb1 libegl1 desktop-file-utils appstream nsis)
if ! command -v dpkg >/dev/null; then
  for t in Xvfb xdotool import desktop-file-validate appstreamcli makensis; do
    command -v "$t" >/dev/null || { echo "setup: $t is missing; install your distribution's packages for: ${pkgs[*]}" >&2; exit 1; }
  done
else
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
      echo "setup: run as root: apt-get install ${missing[*]}" >&2; exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
command -v cargo >/dev/null || {
  echo "setup: cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
}
