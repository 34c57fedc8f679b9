#!/usr/bin/env bash
# Command one: sets everything up, then runs the main job on the embedded default.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/atelier" demo "$@"
