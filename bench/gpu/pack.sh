#!/usr/bin/env bash
# Packs what a bare Linux x86-64 machine with a GPU and no Node needs to run the WebGPU laws and
# the kernel timings: an xz-compressed Node binary, Dawn's dawn.node, the Vulkan loader (.deb),
# and the CLI and benchmarks bundled into single files (no node_modules travels). Writes .gpu/
# (ignored by git); bench/gpu/run.sh is the other half, run on the GPU machine from the repo root.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu
rm -rf "$out/app" "$out/node_modules"
mkdir -p "$out/app" "$out/node_modules/webgpu/dist/linux-x64"

# Node: this machine's binary, compressed (~100 MB → ~25 MB). Reused while the version matches.
node_bin=$(readlink -f "$(command -v node)")
if [ ! -f "$out/node.xz" ] || [ "$(cat "$out/node.version" 2>/dev/null)" != "$(node --version)" ]; then
  xz -T0 -6 -c "$node_bin" > "$out/node.xz"
  node --version > "$out/node.version"
fi

# Dawn: the webgpu package's loader and its Linux x64 addon (compressed: 21 MB → ~6 MB; the
# device tool carries at most 64 MiB), resolved like any package once run.sh unpacks it.
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$out/node_modules/webgpu/"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/dawn.node.xz"

# The Vulkan loader and GLVND: GPU machines have the NVIDIA driver's ICD (libGLX_nvidia), which
# answers vkCreateInstance only when GLVND's libraries are present; bare images lack them.
debs="libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2"
if [ "$(ls "$out"/*.deb 2>/dev/null | wc -l)" -lt 7 ]; then
  lists=$(mktemp -d)
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
  mkdir -p "$lists/partial"
  apt-get "${o[@]}" update -qq
  # shellcheck disable=SC2086
  (cd "$out" && apt-get "${o[@]}" download $debs 2>&1 | grep -v unsandboxed)
fi

# The programs: one ESM file each (the CLI, the benchmarks and the device-tensor benchmark with
# TensorFlow.js inside), webgpu left
# external (it loads dawn.node from its folder). The goldens are read from the bundle's own
# folder (golden/load.ts uses import.meta.url).
npx esbuild bench/gpu/verify.ts bench/run.ts bench/device.ts --bundle --platform=node --format=esm \
  --target=node20 --external:webgpu --outdir="$out/app" --entry-names="[name]" --out-extension:.js=.mjs --log-level=warning \
  --banner:js="import { createRequire as tlCreateRequire } from 'node:module'; const require = tlCreateRequire(import.meta.url);"
cp golden/*.json "$out/app/"
cp package.json "$out/"  # the CLI reports its version from ../package.json
du -sh "$out"
echo "packed $out: carry it with the working tree, then run bench/gpu/run.sh there"
