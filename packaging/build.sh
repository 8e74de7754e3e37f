#!/usr/bin/env bash
# Builds the installable artifacts into dist/:
#   deb      dist/dynamicrafter-studio_<version>_amd64.deb
#   rpm      dist/dynamicrafter-studio-<version>-1.x86_64.rpm
#   tar      dist/dynamicrafter-studio-<version>-x86_64-linux.tar.gz (any distribution)
#   windows  dist/DynamiCrafter-Studio-<version>-windows-x86_64.zip and
#            dist/DynamiCrafter-Studio-<version>-setup.exe (NSIS), cross-built with mingw-w64
#   macos    dist/macos/DynamiCrafter Studio.app (bundle layout; the binary comes from a Mac:
#            --macos-bin, as the release workflow does), and its Info.plist checked
#   check    the static parts only: desktop file, AppStream metadata, Info.plist, NSIS script
#            syntax, the scripts themselves (what CI runs; builds nothing)
#   all      deb rpm tar windows macos
#
# Usage: packaging/build.sh [--linux-bin F] [--windows-exe F] [--macos-bin F] TARGET...
# Without --linux-bin / --windows-exe the script runs `cargo build --release --locked` (for
# the Windows target with `--target x86_64-pc-windows-gnu`). Needs, from Debian:
# dpkg-dev lintian rpm help2man desktop-file-utils appstream librsvg2-bin icoutils icnsutils
# gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 nsis (and wine64 for packaging/wine-smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/identity.sh

linux_bin="" windows_exe="" macos_bin=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --linux-bin) linux_bin=$2; shift 2 ;;
    --windows-exe) windows_exe=$2; shift 2 ;;
    --macos-bin) macos_bin=$2; shift 2 ;;
    all) targets+=(deb rpm tar windows macos); shift ;;
    deb|rpm|tar|windows|macos|check) targets+=("$1"); shift ;;
    *) echo "build.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || { sed -n '2,20p' "$0"; exit 2; }

target_dir=${CARGO_TARGET_DIR:-target}
work=packaging/build
dist=dist
mkdir -p "$work" "$dist"
MAINTAINER="The DynamiCrafter Studio developers <dynamicrafter-studio@users.noreply.github.com>"
SUMMARY="Turn a still image into a short animated video, offline"
WIN_TRIPLE=x86_64-pc-windows-gnu

need() { for t in "$@"; do command -v "$t" >/dev/null || { echo "build.sh: $t is missing (see the header for the Debian packages)" >&2; exit 1; }; done; }
say() { printf '\n== %s\n' "$*"; }

icons() {
  [ -f "$work/icons/AppIcon.icns" ] || packaging/icons.sh "$work/icons" >/dev/null
}

linux_binary() {
  if [ -z "$linux_bin" ]; then
    say "cargo build --release (Linux)"
    cargo build --release --locked
    linux_bin=$target_dir/release/$BIN_NAME
  fi
  [ -x "$linux_bin" ] || { echo "build.sh: no Linux binary at $linux_bin" >&2; exit 1; }
}

# The FHS tree every Linux package installs (PREFIX/bin, PREFIX/share/...).
stage_linux() {
  local root=$1 prefix=$2
  rm -rf "$root"
  install -Dm755 "$linux_bin" "$root$prefix/bin/$BIN_NAME"
  strip --strip-unneeded --remove-section=.comment "$root$prefix/bin/$BIN_NAME"
  install -Dm644 "packaging/linux/$APP_ID.desktop" "$root$prefix/share/applications/$APP_ID.desktop"
  install -Dm644 "packaging/linux/$APP_ID.metainfo.xml" "$root$prefix/share/metainfo/$APP_ID.metainfo.xml"
  (cd "$work/icons" && find hicolor -type f) | while read -r f; do
    install -Dm644 "$work/icons/$f" "$root$prefix/share/icons/$f"
  done
  # The manual page, from --help and --version.
  install -d "$root$prefix/share/man/man1"
  help2man --no-info --name "$SUMMARY" --version-string "$VERSION" "$linux_bin" \
    | gzip -9n > "$root$prefix/share/man/man1/$BIN_NAME.1.gz"
}

# Debian's machine-readable copyright file: our licence, and where the others are.
debian_copyright() {
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $BIN_NAME
Upstream-Contact: $HOMEPAGE/issues
Source: $HOMEPAGE

Files: *
Copyright: 2026 The DynamiCrafter Studio developers
License: Apache-2.0
Comment: The binary also contains third-party crates and OpenH264 (BSD-2-Clause) under
 the licences listed with their full texts in
 /usr/share/doc/$BIN_NAME/THIRD-PARTY-NOTICES.txt.gz

License: Apache-2.0
 On Debian systems, the complete text of the Apache License 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
}

build_deb() {
  need dpkg-deb dpkg-shlibdeps lintian gzip help2man
  linux_binary; icons
  local root=$work/deb/root arch version=$VERSION
  arch=$(dpkg --print-architecture)
  say "deb"
  stage_linux "$root" /usr
  local doc=$root/usr/share/doc/$BIN_NAME
  install -d "$doc"
  debian_copyright > "$doc/copyright"
  gzip -9n < packaging/THIRD-PARTY-NOTICES.txt > "$doc/THIRD-PARTY-NOTICES.txt.gz"
  install -Dm644 packaging/linux/lintian-overrides.txt "$root/usr/share/lintian/overrides/$BIN_NAME"
  printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
    "$BIN_NAME" "$version" "$version" "$MAINTAINER" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")" \
    | gzip -9n > "$doc/changelog.gz"
  # Libraries the binary links (dpkg-shlibdeps), and those wgpu and winit open at run time
  # (dlopen: invisible to it): the Vulkan loader, xkbcommon, X11 and Wayland clients.
  local shlibs
  mkdir -p "$work/deb/debian"
  printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$BIN_NAME" "$BIN_NAME" > "$work/deb/debian/control"
  shlibs=$(cd "$work/deb" && dpkg-shlibdeps -O "root/usr/bin/$BIN_NAME" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  local depends="$shlibs, libvulkan1, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcursor1, libxrandr2, libxi6, libwayland-client0"
  install -d "$root/DEBIAN"
  cat > "$root/DEBIAN/control" <<EOF
Package: $BIN_NAME
Version: $version
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: mesa-vulkan-drivers
Section: graphics
Priority: optional
Homepage: $HOMEPAGE
Description: $SUMMARY
 DynamiCrafter Studio animates a picture: drop an image, describe the motion,
 and watch the frames sharpen as the DynamiCrafter image-to-video diffusion
 model works, on your own graphics card through Vulkan, fully offline.
 .
 Image to video, interpolation and loops; live preview, queue, history,
 sweeps and comparison; export to MP4, GIF, APNG or PNG frames. The models
 (10 GB each) are downloaded from the app's first screen. Without a Vulkan
 GPU driver, Mesa's software driver (mesa-vulkan-drivers) runs it slowly.
EOF
  (cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
  local deb=$dist/${BIN_NAME}_${version}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  say "lintian $(basename "$deb")"
  lintian --tag-display-limit 0 "$deb" 2>/dev/null || true
  lintian_errors "$deb"
  echo "$deb: $(du -h "$deb" | cut -f1)"
}

# Fails on any lintian error (warnings are listed above and explained in packaging/README.md).
lintian_errors() {
  local report
  report=$(lintian "$1" 2>/dev/null)
  if grep -q '^E:' <<<"$report"; then
    echo "build.sh: lintian reports errors for $1" >&2
    exit 1
  fi
}

build_rpm() {
  need rpmbuild help2man
  linux_binary; icons
  say "rpm"
  local top root
  top=$(realpath "$work")/rpm
  root=$top/root
  rm -rf "$top"
  stage_linux "$root" /usr
  install -Dm644 packaging/THIRD-PARTY-NOTICES.txt "$root/usr/share/licenses/$BIN_NAME/THIRD-PARTY-NOTICES.txt"
  install -d "$top/SPECS"
  # Rich dependencies name the packages of Fedora and openSUSE alike.
  cat > "$top/SPECS/$BIN_NAME.spec" <<EOF
Name: $BIN_NAME
Version: $VERSION
Release: 1
Summary: $SUMMARY
License: Apache-2.0 AND BSD-2-Clause AND MIT
URL: $HOMEPAGE
Requires: (vulkan-loader or libvulkan1)
Requires: (libxkbcommon-x11 or libxkbcommon-x11-0)
Recommends: (mesa-vulkan-drivers or libvulkan_lvp)
AutoReqProv: yes

%description
DynamiCrafter Studio animates a picture: drop an image, describe the motion, and
watch the frames sharpen as the DynamiCrafter image-to-video diffusion model works,
on your own graphics card through Vulkan, fully offline. The models (10 GB each) are
downloaded from the app's first screen.

%install
cp -a "$root/." "%{buildroot}/"

%files
%license /usr/share/licenses/$BIN_NAME/THIRD-PARTY-NOTICES.txt
/usr/bin/$BIN_NAME
/usr/share/applications/$APP_ID.desktop
/usr/share/metainfo/$APP_ID.metainfo.xml
/usr/share/icons/hicolor/*/apps/$APP_ID.*
/usr/share/man/man1/$BIN_NAME.1.gz
EOF
  rpmbuild --quiet -bb --define "_topdir $top" --define "_build_id_links none" \
    --define "__strip /bin/true" --define "__os_install_post %{nil}" --define "_binary_payload w9.xzdio" \
    "$top/SPECS/$BIN_NAME.spec"
  local rpm
  rpm=$(find "$top/RPMS" -name '*.rpm' | head -n1)
  cp "$rpm" "$dist/"
  echo "$dist/$(basename "$rpm"): $(du -h "$rpm" | cut -f1)"
  rpm -qp --requires "$rpm" | sed 's/^/  requires: /'
}

build_tar() {
  need help2man
  linux_binary; icons
  say "tar"
  local name=$BIN_NAME-$VERSION-x86_64-linux
  local root=$work/tar/$name
  stage_linux "$root" ""
  rm -rf "${root:?}/share/icons/hicolor/scalable"
  install -Dm644 assets/icon.svg "$root/share/icons/hicolor/scalable/apps/$APP_ID.svg"
  install -m644 packaging/THIRD-PARTY-NOTICES.txt "$root/"
  install -m755 packaging/linux/install.sh "$root/install.sh"
  sed "s/@VERSION@/$VERSION/g" packaging/linux/INSTALL.txt > "$root/INSTALL.txt"
  tar -C "$work/tar" --owner=0 --group=0 -czf "$dist/$name.tar.gz" "$name"
  echo "$dist/$name.tar.gz: $(du -h "$dist/$name.tar.gz" | cut -f1)"
}

build_windows() {
  need makensis x86_64-w64-mingw32-objdump zip
  icons
  if [ -z "$windows_exe" ]; then
    say "cargo build --release --target $WIN_TRIPLE (mingw-w64)"
    rustup target list --installed 2>/dev/null | grep -qx "$WIN_TRIPLE" || rustup target add "$WIN_TRIPLE"
    # The C++ runtime of OpenH264 and winpthreads linked in, so the .exe needs only system DLLs.
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C link-args=-static" \
      cargo build --release --locked --target "$WIN_TRIPLE"
    windows_exe=$target_dir/$WIN_TRIPLE/release/$BIN_NAME.exe
  fi
  say "windows"
  local dir=$work/windows/app
  rm -rf "$work/windows"; mkdir -p "$dir"
  cp "$windows_exe" "$dir/$BIN_NAME.exe"
  x86_64-w64-mingw32-strip "$dir/$BIN_NAME.exe"
  cp packaging/THIRD-PARTY-NOTICES.txt "$dir/THIRD-PARTY-NOTICES.txt"
  sed "s/@VERSION@/$VERSION/g" packaging/windows/README.txt | sed 's/$/\r/' > "$dir/README.txt"
  windows_runtime_dlls "$dir/$BIN_NAME.exe" "$dir"
  for f in "$dir"/*.exe "$dir"/*.dll; do [ -e "$f" ] && windows_dll_check "$f" "$dir"; done
  x86_64-w64-mingw32-objdump -h "$dir/$BIN_NAME.exe" | grep -q '\.rsrc' \
    || { echo "build.sh: the .exe has no resources (icon): is x86_64-w64-mingw32-windres installed?" >&2; exit 1; }
  local zipname=DynamiCrafter-Studio-$VERSION-windows-x86_64
  rm -f "$dist/$zipname.zip"
  (cd "$work/windows" && rm -rf "$zipname" && cp -r app "$zipname" && zip -qr9 "../../../$dist/$zipname.zip" "$zipname")
  local nsis_target=()
  if compgen -G "/usr/share/nsis/Stubs/*amd64-unicode" >/dev/null; then nsis_target=(-DAMD64); fi
  makensis -V2 "${nsis_target[@]}" -DVERSION="$VERSION" -DAPP_ID="$APP_ID" -DSRC="$(realpath "$dir")" \
    -DICON="$(realpath packaging/windows/icon.ico)" -DOUT="$(realpath "$dist")/DynamiCrafter-Studio-$VERSION-setup.exe" \
    packaging/windows/installer.nsi
  ls -l "$dist/$zipname.zip" "$dist/DynamiCrafter-Studio-$VERSION-setup.exe" | awk '{print $NF": "$5" bytes"}'
}

# The DLLs of a Windows system, which the package never ships.
SYSTEM_DLLS='^(kernel32|user32|gdi32|advapi32|shell32|ole32|oleaut32|comctl32|comdlg32|uxtheme|dwmapi|imm32|winmm|ws2_32|bcrypt|bcryptprimitives|ntdll|userenv|crypt32|secur32|ncrypt|opengl32|d3d12|d3dcompiler_47|dxgi|dcomp|propsys|shlwapi|setupapi|version|api-ms-win-[a-z0-9-]+|msvcrt|ucrtbase|vcruntime140|winspool\.drv|hid|powrprof|dbghelp|iphlpapi|netapi32|windowscodecs|msimg32|usp10|mswsock|cfgmgr32|dwrite|d2d1|uiautomationcore|rpcrt4|synchronization|combase|pdh)\.dll$'

# The MinGW runtime DLLs the .exe (or such a DLL) imports, copied beside it: the C++ runtime
# of OpenH264 (libstdc++-6.dll, which the Rust linker links dynamically despite -static) and
# what it needs in turn.
windows_runtime_dlls() {
  local dll path
  for dll in $(x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/.*DLL Name: //p' | grep -viE "$SYSTEM_DLLS" || true); do
    [ -e "$2/$dll" ] && continue
    path=$(x86_64-w64-mingw32-g++ -print-file-name="$dll")
    [ -f "$path" ] || continue
    cp "$path" "$2/$dll"
    x86_64-w64-mingw32-strip --strip-unneeded "$2/$dll"
    windows_runtime_dlls "$2/$dll" "$2"
  done
}

# Every DLL a binary imports must be a Windows system DLL or shipped beside it in dir.
windows_dll_check() {
  local dlls bad
  dlls=$(x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/.*DLL Name: //p' | sort -u)
  echo "$(basename "$1") imports:"; echo "$dlls" | sed 's/^/  /'
  bad=$( (echo "$dlls" | grep -viE "$SYSTEM_DLLS" || true) | while read -r d; do [ -e "$2/$d" ] || echo "$d"; done)
  if [ -n "$bad" ]; then
    echo "build.sh: $(basename "$1") needs DLLs that Windows does not have and the package lacks: $bad" >&2
    exit 1
  fi
}

# The bundle's Info.plist, from the template.
info_plist() {
  sed -e "s/@VERSION@/$VERSION/g" -e "s/@APP_ID@/$APP_ID/g" -e "s/@BIN_NAME@/$BIN_NAME/g" \
      -e "s/@APP_NAME@/$APP_NAME/g" packaging/macos/Info.plist
}

check_plist() {
  python3 - "$1" "$APP_ID" "$VERSION" "$BIN_NAME" <<'EOF'
import plistlib, sys
path, app_id, version, exe = sys.argv[1:]
with open(path, "rb") as f:
    p = plistlib.load(f)
assert p["CFBundleIdentifier"] == app_id, p["CFBundleIdentifier"]
assert p["CFBundleShortVersionString"] == version and p["CFBundleVersion"] == version
assert p["CFBundleExecutable"] == exe and p["CFBundleIconFile"] == "AppIcon"
assert p["CFBundlePackageType"] == "APPL" and p["NSHighResolutionCapable"] is True
utis = {u for d in p["CFBundleDocumentTypes"] for u in d["LSItemContentTypes"]}
for u in ["public.png", "public.jpeg", "org.webmproject.webp", "com.microsoft.bmp", "public.tiff", "com.compuserve.gif"]:
    assert u in utis, f"{u} missing from CFBundleDocumentTypes"
print(f"{path}: plistlib OK ({p['CFBundleIdentifier']} {p['CFBundleShortVersionString']}, {len(utis)} document types)")
EOF
}

build_macos() {
  icons
  say "macos"
  local app="$dist/macos/$APP_NAME.app"
  rm -rf "$dist/macos"
  install -d "$app/Contents/MacOS" "$app/Contents/Resources"
  info_plist > "$app/Contents/Info.plist"
  printf 'APPL????' > "$app/Contents/PkgInfo"
  cp "$work/icons/AppIcon.icns" "$app/Contents/Resources/AppIcon.icns"
  cp packaging/THIRD-PARTY-NOTICES.txt "$app/Contents/Resources/"
  check_plist "$app/Contents/Info.plist"
  if [ -n "$macos_bin" ]; then
    install -m755 "$macos_bin" "$app/Contents/MacOS/$BIN_NAME"
    echo "$app: complete"
  else
    rmdir "$app/Contents/MacOS"
    echo "$app: layout only (no macOS binary: it is built on a Mac by the release workflow; --macos-bin adds it)"
  fi
}

check_static() {
  need desktop-file-validate appstreamcli python3 makensis
  say "desktop file"
  desktop-file-validate "packaging/linux/$APP_ID.desktop" && echo "desktop-file-validate: OK"
  say "AppStream metadata"
  appstreamcli validate --no-net "packaging/linux/$APP_ID.metainfo.xml"
  say "Info.plist"
  info_plist > "$work/Info.plist"
  check_plist "$work/Info.plist"
  say "scripts"
  for s in packaging/*.sh packaging/linux/install.sh scripts/*.sh; do bash -n "$s"; done
  echo "bash -n: OK"
  need makensis
  say "NSIS script"
  # Preprocess only (/PPO): the syntax and the defines, without the files to pack.
  makensis -V1 -PPO -DVERSION="$VERSION" -DAPP_ID="$APP_ID" -DSRC=. -DICON=icon.ico -DOUT=setup.exe \
    packaging/windows/installer.nsi >/dev/null && echo "makensis -PPO: OK"
}

for t in "${targets[@]}"; do
  case "$t" in
    deb) build_deb ;;
    rpm) build_rpm ;;
    tar) build_tar ;;
    windows) build_windows ;;
    macos) build_macos ;;
    check) check_static ;;
  esac
done
