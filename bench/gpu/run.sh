#!/usr/bin/env bash
# Runs the WebGPU laws and the kernel timings on a bare Linux x86-64 GPU machine with no Node,
# from what bench/gpu/pack.sh put in .gpu/ (carried with the working tree). Run from the repo
# root. Results go to ${OUT:-.gpu/out}: laws.json / laws.md, the benchmark results, and
# device.md (device-resident tensors: transfers and the MLP training step, bench/device.ts).
# Usage: bench/gpu/run.sh [laws|bench|device|all] [arguments for bench/run.ts…]   (default: all)
set -uo pipefail
what=all
case "${1:-}" in laws | bench | device | all) what=$1; shift ;; esac
cd "$(dirname "$0")/../.."
gpu=$PWD/.gpu
out=${OUT:-$gpu/out}
mkdir -p "$out" /tmp/tensorlaws-node

# Node from the compressed binary.
node=/tmp/tensorlaws-node/node
[ -x "$node" ] || { xz -dc "$gpu/node.xz" > "$node" && chmod +x "$node"; }
"$node" --version || { echo "the carried Node binary does not run here"; exit 1; }
dawn=$gpu/node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$dawn" ] || { mkdir -p "$(dirname "$dawn")" && xz -dc "$gpu/dawn.node.xz" > "$dawn"; }

# The Vulkan loader and GLVND (see pack.sh), then the NVIDIA ICD where the loader does not find
# it by itself (containers mount the driver under /usr/local/nvidia).
for f in "$gpu"/*.deb; do dpkg -x "$f" /; done
ldconfig
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
  /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then export VK_ICD_FILENAMES=$icd; fi
done
echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-<loader default>}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

# A real GPU must be found: never fall back to a software adapter here.
export TENSORLAWS_REQUIRE_GPU=1
status=0
if [ "$what" = laws ] || [ "$what" = all ]; then
  "$node" "$gpu/app/verify.mjs" verify --builtin webgpu --json "$out/laws.json" --markdown "$out/laws.md" \
    2>&1 | tee "$out/laws.txt" || status=1
fi
# The benchmarks at real-GPU sizes, ours next to TensorFlow.js-webgpu on the same adapter;
# extra arguments go to bench/run.ts (e.g. --filter softmax).
if [ "$what" = bench ] || [ "$what" = all ]; then
  "$node" "$gpu/app/run.mjs" --full --backends webgpu,tfjs-webgpu --out "$out/bench.json" "$@" \
    2>&1 | tee "$out/bench.txt" || status=1
fi
# Device-resident tensors at real-GPU sizes: host↔device GB/s against raw Dawn, and a 3-layer
# MLP training step (batch and width 4096) on host tensors, on device tensors and in tfjs-webgpu.
if [ "$what" = device ] || [ "$what" = all ]; then
  "$node" "$gpu/app/device.mjs" --full 2>&1 | tee "$out/device.md" || status=1
fi
exit $status
