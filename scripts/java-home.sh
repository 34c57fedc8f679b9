# Sourced by the scripts: exports JAVA_HOME pointing at a JDK 25 or newer.
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p'; }
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
