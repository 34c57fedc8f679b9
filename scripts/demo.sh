#!/usr/bin/env bash
# Command one: sets everything up, then runs the main job on the embedded default; the report is
# work/demo/report.html under the repository (atelier demo --help for the options).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
exec "$root/atelier" demo "$@"
