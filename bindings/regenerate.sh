#!/usr/bin/env bash
# Regenerates bindings/src/main/java from native/include/atelier.h with jextract.
# jextract must be on PATH or in $JEXTRACT_HOME/bin. Run after every change to the header,
# then commit the result; the generated files are never edited by hand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
header="$root/native/include/atelier.h"
jextract=${JEXTRACT_HOME:+$JEXTRACT_HOME/bin/}jextract
command -v "$jextract" >/dev/null || { echo "jextract not found: put it on PATH or set JEXTRACT_HOME" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Keep only the declarations of atelier.h itself: libc types (stdint, stddef) stay out.
"$jextract" --dump-includes "$work/all.txt" "$header"
grep -E "header: .*/atelier\.h\$" "$work/all.txt" | sed 's/ *#.*$//' > "$work/includes.txt"

out="$here/src/main/java"
rm -rf "$out/dev/atelier/bindings"
# No --library: the engine loads libatelier itself (one resolver), and the bindings find
# its symbols through the class loader's lookup.
"$jextract" @"$work/includes.txt" --target-package dev.atelier.bindings --header-class-name atelier_h \
  --output "$out" "$header"
echo "regenerated $(find "$out/dev/atelier/bindings" -name '*.java' | wc -l) files from $header"
