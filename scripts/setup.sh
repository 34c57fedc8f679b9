#!/usr/bin/env bash
# Sets Atelier up on Debian 12: system packages (installed when run as root, otherwise the
# exact apt-get line is printed), a JDK 25, the native library (CMake) and the Java modules
# (Maven). Safe to run again: each step does only what is missing or stale.
# --tests also installs what only the tests need: chromium (the report's browser test opens
# report.html in headless Chromium) and python3-torch (the SD benchmark's test runs the PyTorch
# baseline and exports it to ONNX for ONNX Runtime).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(cmake g++ make maven libtorch-dev libfaiss-dev libopenblas-dev)
test_packages=(chromium python3-torch)
for arg in "$@"; do
  case "$arg" in
    --tests) packages+=("${test_packages[@]}") ;;
    *) echo "setup: unknown option $arg (known: --tests)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

# shellcheck source=java-home.sh
source "$root/scripts/java-home.sh"

# Runs a build step with its output in LOG: nothing is printed when it succeeds; when it fails,
# the log's last lines go to stderr and setup stops with the step's exit status.
quietly() {
  local what=$1 log=$2
  shift 2
  local status=0
  "$@" > "$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    grep -v "sun.misc.Unsafe\|^WARNING:" "$log" | tail -n 80 >&2 || true
    echo "setup: $what failed with exit status $status (full output: $log)" >&2
    exit "$status"
  fi
}

echo "setup: building the native library"
quietly "CMake configure" "$root/build.cmake.log" cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release
quietly "native build (cmake --build build)" "$root/build/native-build.log" cmake --build "$root/build" -j "$(nproc)"

echo "setup: building the Java modules"
quietly "Maven build (mvn -B -DskipTests package)" "$root/build/maven-build.log" mvn -B -q -DskipTests package
echo "setup: done"
