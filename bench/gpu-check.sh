#!/usr/bin/env bash
# The GPU check, one command for a Linux x86-64 machine with an NVIDIA GPU and no internet: which WebGPU
# adapter Dawn finds, one training step on webgpu against the cpu backend, and the bench's encoder, decoder,
# full and ResNet-50 224 px steps timed on webgpu (the first step, with its shader compilation, apart from
# the steady state) beside the same steps in PyTorch on CUDA. Writes gpu-check.json (and gpu-check.log) to
# $OUT when it is set, else bench/results/gpu-check.json; ends within --budget seconds (330 by default).
#
# It runs what `npm run gpu-check:prepare` put into .gpu-check/ (a device machine is sent that folder by
# naming it in carry): Node.js, the bundled check, Dawn's binary and the Vulkan loader's Debian packages,
# unpacked into a temporary folder rather than into /, which they could break.
#
#   bash bench/gpu-check.sh [--allow-software] [--quick] [--budget S] [--steps a,b] [--help]
#
# Environment: VK_DRIVER_FILES (default: NVIDIA's ICD file where there is one), GPU_CHECK_PYTHON (default
# python3), GPU_CHECK_NODE (a Node.js to use instead of the carried one), GPU_CHECK_CARRIED (default
# .gpu-check).
set -euo pipefail
started_ms=$(date +%s%3N)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
carried=${GPU_CHECK_CARRIED:-$repo/.gpu-check}

fail() {
  echo "gpu-check: $*" >&2
  exit 2
}

# Unpacks an .xz file: with xz where it is installed, else with Python's lzma.
unxz_to() {
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2"
  elif command -v python3 >/dev/null; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  else
    fail "neither xz nor python3 is here to unpack $1"
  fi
}

# The one file a glob names in the carried folder.
carried_file() {
  local matches=("$carried"/$1)
  [ -f "${matches[0]}" ] || fail "$carried holds no $1: run 'npm run gpu-check:prepare' where the npm registry is reachable"
  echo "${matches[0]}"
}

# A library's file as the dynamic linker would find it by name: on LD_LIBRARY_PATH, then in ldconfig's cache.
find_library() {
  local dir
  local IFS=:
  for dir in ${LD_LIBRARY_PATH:-}; do
    [ -e "$dir/$1" ] && { echo "$dir/$1"; return; }
  done
  ldconfig -p 2>/dev/null | awk -v name="$1" '$1 == name { print $NF; exit }'
}

# The Vulkan driver the loader is pointed at, and any library it cannot load: what to look at first when Dawn
# finds no NVIDIA adapter.
report_driver() {
  local icd library file
  if [ -z "${VK_DRIVER_FILES:-}" ]; then
    echo "driver: VK_DRIVER_FILES unset and no NVIDIA ICD file found: the loader searches its default folders"
    return
  fi
  local IFS=:
  for icd in $VK_DRIVER_FILES; do
    if [ ! -f "$icd" ]; then
      echo "driver: $icd does not exist"
      continue
    fi
    library=$(sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$icd" | head -n 1)
    case $library in
      /*) file=$library ;;
      */*) file=$(dirname "$icd")/$library ;;
      *) file=$(find_library "$library") ;;
    esac
    if [ -z "$file" ] || [ ! -e "$file" ]; then
      echo "driver: $icd names $library, which is neither on LD_LIBRARY_PATH nor in ldconfig's cache"
      continue
    fi
    echo "driver: $icd -> $file"
    ldd "$file" 2>/dev/null | grep 'not found' | sed 's/^[[:space:]]*/  it cannot load: /' || true
  done
}

check() {
  [ -f "$carried/manifest.json" ] ||
    fail "$carried/manifest.json is missing: run 'npm run gpu-check:prepare' where the npm registry is reachable, and carry .gpu-check"
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || fail "the carried binaries are for Linux x86-64, not $(uname -s)-$(uname -m)"

  runtime=$(mktemp -d "${TMPDIR:-/tmp}/synthpair-gpu-check.XXXXXX")
  trap 'rm -rf "$runtime"' EXIT
  local node app node_xz bundle dawn_package dawn_index dawn_xz
  # Each found before anything is unpacked: a failure inside $(…) would not stop the script.
  node_xz=$(carried_file 'node-v*-linux-x64.xz')
  bundle=$(carried_file gpu-check.cjs)
  dawn_package=$(carried_file webgpu/package.json)
  dawn_index=$(carried_file webgpu/index.js)
  dawn_xz=$(carried_file 'dawn-*-linux-x64.node.xz')
  if [ -n "${GPU_CHECK_NODE:-}" ]; then
    node=$GPU_CHECK_NODE
  else
    node=$runtime/node
    unxz_to "$node_xz" "$node"
    chmod +x "$node"
  fi
  app=$runtime/app
  mkdir -p "$app/node_modules/webgpu/dist/linux-x64"
  cp "$bundle" "$app/"
  cp "$dawn_package" "$dawn_index" "$app/node_modules/webgpu/"
  unxz_to "$dawn_xz" "$app/node_modules/webgpu/dist/linux-x64/dawn.node"

  local deb
  for deb in "$carried"/debs/*.deb; do
    [ -f "$deb" ] || fail "$carried/debs holds no .deb: run 'npm run gpu-check:prepare'"
    dpkg-deb -x "$deb" "$runtime/vulkan"
  done
  # The carried loader first; NVIDIA's libraries where the container has them, for the ICD file's bare name.
  LD_LIBRARY_PATH=$runtime/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  local dir
  for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    if [ -d "$dir" ] && [[ ":$LD_LIBRARY_PATH:" != *":$dir:"* ]]; then
      LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$dir
    fi
  done
  export LD_LIBRARY_PATH
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ]; then
    local icd
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
      /etc/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$icd" ]; then
        export VK_DRIVER_FILES=$icd
        break
      fi
    done
  fi

  echo "gpu-check: prepared $(sed -n 's/.*"preparedAt": "\([^"]*\)".*/\1/p' "$carried/manifest.json") at commit" \
    "$(sed -n 's/.*"commit": "\([^"]*\)".*/\1/p' "$carried/manifest.json" | cut -c1-12)" \
    "($(du -sh "$carried" | cut -f1) carried); unpacked in $(($(date +%s%3N) - started_ms)) ms into $runtime"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/nvidia-smi: /' || true
  fi
  report_driver
  local status=0
  "$node" "$app/gpu-check.cjs" --started-at "$started_ms" --repo "$repo" --manifest "$carried/manifest.json" "$@" ||
    status=$?
  return "$status"
}

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  check "$@" 2>&1 | tee "$OUT/gpu-check.log"
  exit "${PIPESTATUS[0]}"
fi
check "$@"
