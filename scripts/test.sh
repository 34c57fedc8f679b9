#!/usr/bin/env bash
# Command two: sets everything up (with the test-only packages: setup.sh --tests), then runs every
# test: native tests through ctest and Java tests through Maven Surefire. Tests tagged gpu are
# excluded (-Dgroups=gpu to run them). Tests tagged es need the 2-node Elasticsearch
# cluster: they run in a step of their own that starts it (scripts/es-cluster.sh, which fetches
# Elasticsearch from Maven Central the first time) and stops it again; about 10 minutes on 2
# cores. ATELIER_ES_TESTS=0 skips that step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" --tests
source "$root/scripts/java-home.sh"
cd "$root"
echo "test: native tests (ctest)"
ctest --test-dir build --output-on-failure
echo "test: Java tests (Maven Surefire)"
mvn -B test
if [[ ${ATELIER_ES_TESTS:-1} == 1 ]]; then
  echo "test: Elasticsearch tests (tag es) on a 2-node loopback cluster"
  es_started=0
  if [[ $(scripts/es-cluster.sh status) == stopped ]]; then
    scripts/es-cluster.sh start
    es_started=1
  fi
  trap '[[ $es_started == 1 ]] && scripts/es-cluster.sh stop' EXIT
  mvn -B test -pl tools -am -Dgroups=es -Dtest.excludedGroups=gpu -Dsurefire.failIfNoSpecifiedTests=false
fi
