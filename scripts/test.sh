#!/usr/bin/env bash
# Command two: sets everything up, then runs every test: native tests through ctest and Java
# tests through Maven Surefire. Tests tagged gpu or heavy are excluded (-Dgroups=gpu to run them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
source "$root/scripts/java-home.sh"
cd "$root"
echo "test: native tests (ctest)"
ctest --test-dir build --output-on-failure
echo "test: Java tests (Maven Surefire)"
mvn -B test
