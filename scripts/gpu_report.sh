#!/usr/bin/env bash
# The GPU report on a machine with no Rust toolchain, no crates and no internet (the device
# tool's lent H100/H200), from stripped release binaries carried beside this script:
#
#   dist/gpu/dynamicrafter-studio.xz         the default (WGSL) build      (scripts/gpu_report.sh --pack)
#   dist/gpu/dynamicrafter-studio-spirv.xz   the `vulkan-spirv` build, optional (--pack spirv)
#   dist/gpu/fixture/                        optional: a fixture for the SPIR-V build's parity
#                                            (the tiny one is 44 MB: with both binaries, ~39 MB
#                                            compressed, it exceeds the 64 MiB a call can carry;
#                                            the SPIR-V build's `selfcheck` compares every stage
#                                            with the CPU backend instead)
#   .gl/*.deb                                the Vulkan loader, where the machine lacks one
#
# The binary needs only glibc ≥ 2.35 and libstdc++ (`ldd`: no Vulkan link; wgpu opens the
# loader at run time, and without one the report stops with what to install).
#
# Run from the repository root (or any folder holding dist/gpu): results go to $OUT (default
# ./gpu-report), one folder per build: selfcheck.txt, report.json, report.md, the autotune
# decision log and each phase's log. Every phase has its own time limit and the report writes
# its files after each configuration, so a run cut short keeps what it measured. Phases, most
# important first: WGSL selfcheck and report at 512 (f32 and f16; balanced, then low; both
# convolution paths; the 25-step generation), then the SPIR-V build's selfcheck (parity if a
# fixture is carried) and report at 512 f16, then the WGSL report at 1024.
#
# Environment: OUT, SIZE (HxW, e.g. 64x64 on lavapipe; default the presets' own), FRAMES,
# BUDGET_S (total seconds, default 540: give the device call a timeout_s of about 580), FIXTURE (a fixture directory for the parity phase).
#
#   scripts/gpu_report.sh --pack [wgsl|spirv]     # here: compress the release binary into dist/gpu
#   device run: carry dist and .gl; command: OUT=$OUT scripts/gpu_report.sh
set -u

# --pack [wgsl|spirv]: compresses the release binary just built into dist/gpu (build the
# `vulkan-spirv` one with `cargo build --release --features vulkan-spirv` and pack it as spirv).
if [ "${1:-}" = "--pack" ]; then
    mkdir -p dist/gpu
    name=dynamicrafter-studio
    [ "${2:-wgsl}" = spirv ] && name=dynamicrafter-studio-spirv
    xz -T0 -6 -c target/release/dynamicrafter-studio >"dist/gpu/$name.xz" && ls -l "dist/gpu/$name.xz"
    exit $?
fi

OUT=${OUT:-$PWD/gpu-report}
BUDGET_S=${BUDGET_S:-540}
START=$(date +%s)
mkdir -p "$OUT"
left() { echo $((BUDGET_S - ($(date +%s) - START))); }

# The Vulkan loader and NVIDIA's ICD (see the device tool's README).
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
{ uname -a; cat /etc/os-release 2>/dev/null | head -2; ldd --version | head -1; } >"$OUT/machine.txt" 2>&1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/nvidia-smi.csv" 2>&1

size_args=()
[ -n "${SIZE:-}" ] && size_args+=(--size "$SIZE")
[ -n "${FRAMES:-}" ] && size_args+=(--frames "$FRAMES")

# phase NAME BUILD_DIR LIMIT_S COMMAND…: runs with the smaller of LIMIT_S and the time left.
phase() {
    local name=$1 dir=$2 limit=$3
    shift 3
    local t
    t=$(left)
    [ "$limit" -lt "$t" ] && t=$limit
    if [ "$t" -lt 15 ]; then
        echo "$name: skipped (no time left)" | tee -a "$OUT/phases.txt"
        return
    fi
    local s=$(date +%s)
    timeout --kill-after=5 "$t" "$@" >"$dir/$name.log" 2>&1
    local rc=$?
    echo "$name: rc $rc in $(($(date +%s) - s)) s (limit $t s)" | tee -a "$OUT/phases.txt"
}

run_build() {
    local build=$1 bin=$2 presets=$3 precision=$4 memories=$5 gen=$6 limit=$7
    local dir="$OUT/$build"
    mkdir -p "$dir"
    phase selfcheck "$dir" 60 "$bin" selfcheck --backend wgpu --precision auto
    cp "$dir/selfcheck.log" "$dir/selfcheck.txt" 2>/dev/null
    phase report "$dir" "$limit" env DYNAMICRAFTER_CONV_CHOICES="$dir/conv-choices.json" \
        "$bin" bench --report "$dir" --backend wgpu --presets "$presets" --precision "$precision" \
        --memories "$memories" --warmup 1 --steps 2 --generation-steps "$gen" "${size_args[@]}"
}

bins=()
for name in dynamicrafter-studio dynamicrafter-studio-spirv; do
    if [ -f "dist/gpu/$name.xz" ]; then
        xz -dc "dist/gpu/$name.xz" >"$OUT/$name" && chmod +x "$OUT/$name" && bins+=("$name")
    elif [ -x "dist/gpu/$name" ]; then
        cp "dist/gpu/$name" "$OUT/$name" && bins+=("$name")
    fi
done
echo "builds: ${bins[*]:-none}" | tee "$OUT/phases.txt"

has() { [[ " ${bins[*]:-} " == *" $1 "* ]]; }
if has dynamicrafter-studio; then
    run_build wgsl "$OUT/dynamicrafter-studio" 512 both balanced,low 25 240
fi
if has dynamicrafter-studio-spirv; then
    bin="$OUT/dynamicrafter-studio-spirv"
    mkdir -p "$OUT/spirv"
    FIXTURE=${FIXTURE:-$( [ -d dist/gpu/fixture ] && echo dist/gpu/fixture )}
    if [ -n "${FIXTURE:-}" ]; then
        phase parity-f16 "$OUT/spirv" 90 "$bin" parity "$FIXTURE" --backend wgpu --precision f16
    fi
    run_build spirv "$bin" 512 f16 balanced 0 90
fi
if has dynamicrafter-studio; then
    mkdir -p "$OUT/wgsl-1024"
    phase report "$OUT/wgsl-1024" 150 env DYNAMICRAFTER_CONV_CHOICES="$OUT/wgsl/conv-choices.json" \
        "$OUT/dynamicrafter-studio" bench --report "$OUT/wgsl-1024" --backend wgpu --presets 1024 \
        --precision both --memories balanced --warmup 1 --steps 1 --generation-steps 0 "${size_args[@]}"
fi
rm -f "$OUT"/dynamicrafter-studio "$OUT"/dynamicrafter-studio-spirv
echo "done in $(($(date +%s) - START)) s; results in $OUT" | tee -a "$OUT/phases.txt"
