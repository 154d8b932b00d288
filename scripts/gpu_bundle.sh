#!/usr/bin/env bash
# scripts/gpu_bundle.sh: gathers into gpu-kit/ (ignored by git) the Debian headers and libraries that the
# build needs and the GPU machine's image lacks (it has nvcc, CMake, ninja, g++ and python3 with PyTorch
# and cuDNN, but no Debian packages and no network): GoogleTest/GMock, Google Benchmark, OpenBLAS's
# OpenMP build with its Fortran runtime, CLI11, toml++, nlohmann-json, libpng and zlib, in Debian's own layout,
# so that -DCMAKE_PREFIX_PATH=$PWD/gpu-kit finds them (their CMake files locate themselves). About
# 42 MB, under the device tool's 64 MiB carry limit. Run it here, then carry gpu-kit to the device and
# run scripts/gpu_check.sh there:
#   scripts/gpu_bundle.sh && run(command: "bash scripts/gpu_check.sh", carry: ["gpu-kit"])
# NOTE: the libraries are Debian 12's (glibc 2.36); an image with an older glibc would refuse them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kit=$root/gpu-kit
arch=x86_64-linux-gnu
rm -rf "$kit"
mkdir -p "$kit/include/$arch" "$kit/lib/$arch/openblas-openmp" "$kit/lib/$arch/cmake" "$kit/share/cmake"

cp -a /usr/include/{gtest,gmock,benchmark,CLI,toml++,nlohmann,libpng16} "$kit/include/"
cp -a /usr/include/{png.h,pngconf.h,pnglibconf.h,zlib.h,zconf.h} "$kit/include/"
cp -a /usr/include/$arch/openblas-openmp "$kit/include/$arch/"

lib=/usr/lib/$arch
cp -a $lib/{libgtest.a,libgtest_main.a,libgmock.a,libgmock_main.a} "$kit/lib/$arch/"
cp -a $lib/libbenchmark.so* $lib/libbenchmark_main.a "$kit/lib/$arch/"
cp -a $lib/libpng16.so* $lib/libpng.so "$kit/lib/$arch/"
cp -a $lib/libtomlplusplus.so* "$kit/lib/$arch/"
cp -aL $lib/libz.so "$kit/lib/$arch/libz.so"
cp -L $lib/openblas-openmp/libopenblas.so.0 "$kit/lib/$arch/openblas-openmp/"
ln -s libopenblas.so.0 "$kit/lib/$arch/openblas-openmp/libopenblas.so"
for so in libgfortran.so.5 libquadmath.so.0; do cp -L /lib/$arch/$so "$kit/lib/$arch/"; done
cp -a $lib/cmake/{GTest,benchmark,tomlplusplus} "$kit/lib/$arch/cmake/"
cp -a /usr/share/cmake/{CLI11,nlohmann_json} "$kit/share/cmake/"

# Dangling symlinks would fail on the device only: check here.
if find "$kit" -xtype l | grep -q .; then
  echo "scripts/gpu_bundle.sh: dangling links in gpu-kit:" >&2
  find "$kit" -xtype l >&2
  exit 1
fi
echo "gpu-kit: $(du -sh "$kit" | cut -f1) in $(find "$kit" -type f | wc -l) files"
