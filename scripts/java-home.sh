# Sourced by the scripts: exports JAVA_HOME pointing at a JDK 25 or newer.
# The major version from the JDK's `release` file (JAVA_VERSION="25.0.3"), which every JDK build
# writes; starting the JDK to ask it costs a tenth of a second per JDK, on every command.
java_major() {
  local v=""
  [ -f "$1/release" ] && v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release")
  if [ -z "$v" ]; then
    v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')
  fi
  echo "$v"
}
if [ -z "${JAVA_HOME:-}" ] || [ "$(java_major "$JAVA_HOME" 2>/dev/null || echo 0)" -lt 25 ] 2>/dev/null; then
  JAVA_HOME=""
  for jdk in /usr/lib/jvm/*; do
    [ -x "$jdk/bin/javac" ] || continue
    if [ "$(java_major "$jdk" 2>/dev/null || echo 0)" -ge 25 ] 2>/dev/null; then JAVA_HOME=$jdk; break; fi
  done
fi
if [ -z "$JAVA_HOME" ]; then
  echo "Atelier needs a JDK 25 or newer: set JAVA_HOME or install one under /usr/lib/jvm" >&2
  exit 2
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
