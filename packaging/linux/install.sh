#!/bin/sh
# Installs DynamiCrafter Studio from this folder for one user (~/.local, the default) or
# system-wide (sudo ./install.sh /usr/local). ./install.sh --uninstall [PREFIX] removes it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
app_id=io.github.dynamicrafter_studio.DynamiCrafterStudio
uninstall=0
if [ "${1:-}" = "--uninstall" ]; then uninstall=1; shift; fi
prefix=${1:-$HOME/.local}
files="bin/dynamicrafter-studio share/applications/$app_id.desktop share/metainfo/$app_id.metainfo.xml share/man/man1/dynamicrafter-studio.1.gz"
for d in "$here"/share/icons/hicolor/*/apps; do
  size=$(basename "$(dirname "$d")")
  for f in "$d"/*; do files="$files share/icons/hicolor/$size/apps/$(basename "$f")"; done
done
for f in $files; do
  if [ "$uninstall" = 1 ]; then
    rm -f "$prefix/$f"
  else
    mkdir -p "$(dirname "$prefix/$f")"
    cp "$here/$f" "$prefix/$f"
  fi
done
command -v update-desktop-database >/dev/null && update-desktop-database -q "$prefix/share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -qtf "$prefix/share/icons/hicolor" || true
if [ "$uninstall" = 1 ]; then
  echo "Removed DynamiCrafter Studio from $prefix (your models and history stay in ~/.local/share/dynamicrafter-studio)."
else
  echo "Installed DynamiCrafter Studio into $prefix: it is in your applications menu, or run $prefix/bin/dynamicrafter-studio"
fi
