# Sourced by every benchmark script: `bench_classpath ROOT` sets BENCH_CP to the runtime classpath
# of the benchmarks module, compiled from this checkout: benchmarks/target/classes, the sibling
# modules' target/classes (engine, bindings) and the third-party jars from the local Maven
# repository. One Maven run in the reactor compiles the three modules and writes the classpath,
# so nothing of Atelier's own needs to be installed in ~/.m2 (a fresh clone works). On failure it
# prints Maven's output and exits non-zero.
#
# ATELIER_BENCH_CP, when set, is used as it is and nothing is built: the JUnit test that runs the
# scripts passes the classpath of the Maven build it runs in.
# Needs JAVA_HOME (scripts/java-home.sh) and mvn on the PATH.

# The maven-dependency-plugin version the project uses elsewhere (engine's es-dist profile); named
# here in full, so Maven does not look up the newest version of the `dependency:` prefix.
BENCH_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

bench_classpath() {
  local root=$1
  if [ -n "${ATELIER_BENCH_CP:-}" ]; then
    BENCH_CP=$ATELIER_BENCH_CP
    return 0
  fi
  local cp_file log rc=0
  cp_file=$(mktemp)
  log=$(mktemp)
  # build-classpath runs in each module of -am (bindings, engine, benchmarks) and each writes
  # cp_file: benchmarks comes last in the reactor's order (it depends on the other two), so its
  # classpath is the one left. Sibling modules resolve to their target/classes because compile
  # runs in the same session.
  (cd "$root" && mvn -B -q -pl benchmarks -am compile "$BENCH_DEPENDENCY_PLUGIN:build-classpath" \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$cp_file") >"$log" 2>&1 || rc=$?
  if [ "$rc" != 0 ] || [ ! -s "$cp_file" ]; then
    echo "$(basename "$0"): compiling the benchmarks and resolving their classpath failed (exit $rc):" >&2
    echo "  (cd $root && mvn -B -pl benchmarks -am compile $BENCH_DEPENDENCY_PLUGIN:build-classpath" \
      "-Dmdep.includeScope=runtime -Dmdep.outputFile=FILE)" >&2
    cat "$log" >&2
    rm -f "$cp_file" "$log"
    exit 1
  fi
  BENCH_CP=$root/benchmarks/target/classes:$(cat "$cp_file")
  rm -f "$cp_file" "$log"
}
