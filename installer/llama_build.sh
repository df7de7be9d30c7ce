#!/usr/bin/env bash
# Build llama-cpp-python once as a portable wheel and install it into the given venv.
#
# Portable: native CPU tuning off, a fixed x86-64 baseline of AVX2/FMA/F16C/BMI2 (Intel
# Haswell 2013+, AMD Excavator 2015+), AVX-512 and AMX kernels off; ggml's own thread pool
# instead of OpenMP. Why, and what was measured, is in installer/LLAMA.md.
#
# The wheel is kept in a directory of our own keyed by the version and the build flags,
# and installed from there with --no-index: pip's wheel cache keys a wheel by name and
# version only, so a wheel compiled earlier with other (native) flags could be picked up
# again. A second run finds the wheel and only reinstalls it when the venv lacks it.
set -euo pipefail
VENV=${1:?usage: llama_build.sh VENV}
VERSION=0.3.36
FLAGS=(
  -DGGML_NATIVE=OFF
  -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
  -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
  -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  -DGGML_OPENMP=OFF
  -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF
)
KEY=$(printf '%s\n' "$VERSION" "${FLAGS[@]}" | sha256sum | cut -c1-16)
CACHE=${OFFHOLD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offhold/wheels}
DIR="$CACHE/llama-cpp-python-$VERSION-$KEY"
STAMP="$VENV/.offhold-llama-build"

if ! ls "$DIR"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "bootstrap: building llama-cpp-python $VERSION (portable CPU build, once; 4-20 min on 2 cores)" >&2
  mkdir -p "$DIR.part"
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  CMAKE_ARGS="${FLAGS[*]} ${launcher[*]}" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$VENV/bin/pip" wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$DIR.part" "llama-cpp-python==$VERSION"
  rm -rf "$DIR" && mv "$DIR.part" "$DIR"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$KEY" ]; then
  "$VENV/bin/pip" install -q --no-deps --force-reinstall --no-index --find-links "$DIR" \
    "llama-cpp-python==$VERSION"
  # its own dependencies (numpy, jinja2, ...) from the index; --only-binary keeps pip from
  # ever building the sdist again
  "$VENV/bin/pip" install -q --only-binary llama-cpp-python --find-links "$DIR" \
    "llama-cpp-python==$VERSION"
  echo "$KEY" > "$STAMP"
fi
