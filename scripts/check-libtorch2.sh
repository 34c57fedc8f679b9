#!/usr/bin/env bash
# Compiles every native source (g++ -fsyntax-only) against libtorch 2.x headers, the version a GPU
# machine's pip torch brings, on a Debian 12 machine whose own libtorch is 1.13:
#   scripts/check-libtorch2.sh [WORKDIR]
# Fetches Debian trixie's libtorch-dev package (headers only; nothing is installed), hides the
# system's 1.13 headers, and reports each file that does not compile. Differences between the
# versions belong in native/src/core/torch_compat.hpp. Takes about 15 s a file on one core.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-${TMPDIR:-/tmp}/atelier-libtorch2}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$work"
cd "$work"

if [ ! -d headers/usr/include/torch/csrc ]; then
  echo "fetching trixie's package index"
  curl -fsSL "$mirror/dists/trixie/main/binary-amd64/Packages.xz" | xz -d > Packages
  deb=$(awk '/^Package: libtorch-dev$/ {p = 1} p && /^Filename:/ {print $2; exit}' Packages)
  [ -n "$deb" ] || { echo "libtorch-dev not found in trixie's index" >&2; exit 1; }
  echo "fetching $deb"
  curl -fsSL -o libtorch-dev.deb "$mirror/$deb"
  rm -rf headers && dpkg-deb -x libtorch-dev.deb headers
fi
inc=$work/headers/usr/include
v=$inc/torch/csrc/api/include/torch/version.h
version=$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$v" | paste -sd.)

# /usr/include without the 1.13 torch, ATen, c10 and caffe2 headers (everything else: FAISS, libc).
rm -rf sysinc && mkdir sysinc
for entry in /usr/include/*; do
  case $(basename "$entry") in torch | ATen | c10 | caffe2) ;; *) ln -s "$entry" sysinc/ ;; esac
done
gcc_inc=$(g++ -E -x c++ - -v < /dev/null 2>&1 | sed -n '/#include <...> search starts here:/,/End of search list./p' |
          grep '^ ' | grep -v '^ /usr/include$' | sed 's/^ /-isystem /' | tr '\n' ' ')

failed=0
cd "$root/native/src"
for f in $(find . -name '*.cpp' | sed 's#^\./##' | sort); do
  pch=(-include torch/torch.h)  # as the build's precompiled header, except the FAISS wrappers
  case $f in index/*) [ "$f" = index/torch_search.cpp ] || pch=() ;; index_absent/*) pch=() ;; esac
  # shellcheck disable=SC2086
  if ! g++ -std=c++17 -fsyntax-only -fopenmp -Wall -Wextra -Wno-unused-parameter \
      -DATL_VERSION_STRING='"0"' -DATL_BUILD_INFO='"check"' -DATL_WITH_FAISS=1 -nostdinc \
      -I"$root/native/src" -I"$root/native/include" -I"$inc" -I"$inc/torch/csrc/api/include" \
      $gcc_inc -isystem "$work/sysinc" "${pch[@]}" "$f" > "$work/last.log" 2>&1; then
    echo "FAILS: $f"
    grep -m 5 'error' "$work/last.log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done
echo "libtorch $version: $failed file(s) do not compile"
[ "$failed" -eq 0 ]
