#!/usr/bin/env bash
# Runs the WebGPU laws and the kernel timings on a bare Linux x86-64 GPU machine with no Node,
# from what bench/gpu/pack.sh put in .gpu/ (carried with the working tree). Run from the repo
# root. Results go to ${OUT:-.gpu/out}: laws.json / laws.md, and the benchmark results.
set -uo pipefail
cd "$(dirname "$0")/../.."
gpu=$PWD/.gpu
out=${OUT:-$gpu/out}
mkdir -p "$out" /tmp/tensorlaws-node

# Node from the compressed binary.
node=/tmp/tensorlaws-node/node
[ -x "$node" ] || { xz -dc "$gpu/node.xz" > "$node" && chmod +x "$node"; }
"$node" --version || { echo "the carried Node binary does not run here"; exit 1; }

# The Vulkan loader, unless the machine has one; then the NVIDIA ICD where the loader does not
# find it by itself (containers mount the driver under /usr/local/nvidia).
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for f in "$gpu"/libvulkan1_*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
  /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then export VK_ICD_FILENAMES=$icd; fi
done
echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-<loader default>}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

# A real GPU must be found: never fall back to a software adapter here.
export TENSORLAWS_REQUIRE_GPU=1
status=0
"$node" "$gpu/app/cli.mjs" verify --backend webgpu --json "$out/laws.json" --markdown "$out/laws.md" \
  2>&1 | tee "$out/laws.txt" || status=1
"$node" "$gpu/app/timings.mjs" "$@" 2>&1 | tee "$out/timings.txt" || status=1
exit $status
