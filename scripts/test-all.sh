#!/usr/bin/env bash
# Sluice's one test command: what CI runs (.ci/run) and what a developer runs before pushing.
#
#   1. tools      kcat (Debian package) and a Python venv at compat-tests/python/.venv with
#                 compat-tests/python/requirements.txt (reused while the requirements are unchanged)
#   2. fmt        cargo fmt --all -- --check
#   3. clippy     cargo clippy --workspace --all-targets --release -- -D warnings
#   4. build      cargo build --release --workspace --all-targets
#   5. cargo test cargo test --release --workspace (unit tests and the Rust compat tests in compat-tests/)
#   6. pytest     the Python-client and kcat suite in compat-tests/python against target/release/sluice
#   7. mvn        the Java suite in compat-tests/java (Apache Kafka's Java client, AdminClient, command-line tools
#                 and Kafka Streams) against target/release/sluice; Maven caches its downloads in ~/.m2
#
# Setup (1) stops at the first error. Steps 2-7 each run even when an earlier one failed, so one run reports
# every problem, except that the tests (5-7) need a successful build; a summary closes the output and the exit
# code is non-zero if any step failed. Needs root, or passwordless sudo, only to install kcat, a JDK or Maven when
# one is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYDIR="$ROOT/compat-tests/python"
VENV="$PYDIR/.venv"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive
START_ALL=$SECONDS
STEP_START=$SECONDS
STEP_NAME=""

section() {
    finish_section
    STEP_NAME="$1"
    STEP_START=$SECONDS
    printf '\n==================== %s ====================\n' "$STEP_NAME"
}
finish_section() {
    if [[ -n "$STEP_NAME" ]]; then
        printf -- '---- %s: ok (%ss)\n' "$STEP_NAME" "$((SECONDS - STEP_START))"
    fi
}
on_exit() {
    local code=$?
    if [[ $code -ne 0 ]]; then
        printf '\n**** FAILED at step "%s" (exit code %s, after %ss)\n' "${STEP_NAME:-setup}" "$code" "$((SECONDS - START_ALL))" >&2
    fi
}
trap on_exit EXIT

# Run a command as root: directly when root, through non-interactive sudo otherwise.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n -E "$@"
    else
        echo "need root (or passwordless sudo) to run: $*" >&2
        return 1
    fi
}

apt_install() {
    # Try with the package lists as they are; refresh them only if that fails (a fresh image has none).
    if ! as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        echo "refreshing the package lists (apt-get update)"
        as_root apt-get update -qq
        as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

# ---------------------------------------------------------------------------------------------------------
section "tools: kcat, Python venv, JDK and Maven, Rust components"

if ! command -v kcat >/dev/null 2>&1; then
    echo "installing kcat (apt-get)"
    apt_install kcat
fi
kcat -V 2>&1 | sed -n '/^Version/p'

PYTHON="${PYTHON:-python3}"
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "removing broken venv $VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV with $("$PYTHON" --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV"; then
        rm -rf "$VENV"
        echo "python venv module missing: installing python3-venv"
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
fi
REQ_HASH="$(sha256sum "$PYDIR/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)" != "$REQ_HASH" ]]; then
    echo "pip install -r compat-tests/python/requirements.txt"
    "$VENV/bin/python" -m pip install -q -r "$PYDIR/requirements.txt"
    echo "$REQ_HASH" > "$VENV/.requirements.sha256"
else
    echo "venv up to date with requirements.txt"
fi
"$VENV/bin/python" -m pip list --format=freeze 2>/dev/null \
    | grep -iE '^(pytest|confluent-kafka|kafka-python|lz4|python-snappy|cramjam|zstandard)==' | tr '\n' ' '
echo

# The Java suite needs a JDK 17 or newer (javac, for the test classes) and Maven.
java_major() {
    java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1
}
if ! command -v javac >/dev/null 2>&1 || [[ "$(java_major)" -lt 17 ]]; then
    echo "installing a JDK (apt-get openjdk-17-jdk-headless)"
    apt_install openjdk-17-jdk-headless
fi
if ! command -v mvn >/dev/null 2>&1; then
    echo "installing Maven (apt-get maven)"
    apt_install maven
fi
echo "java $(java_major), $(mvn -v 2>/dev/null | sed -n '1s/\x1b\[[0-9;]*m//g; 1p')"

if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
            rustup component add "$component"
        fi
    done
fi
cargo --version

# ---------------------------------------------------------------------------------------------------------
# The checks. Each runs even when an earlier one failed (a CI run then reports every problem at once), except
# that the tests need a successful build. The script exits non-zero if any step failed.
finish_section
STEP_NAME=""
RESULTS=()
FAILURES=0

# The Java suite, quiet unless something fails (mvn -q), then one line counting what Surefire ran.
java_tests() {
    local rc=0
    rm -rf "$ROOT/compat-tests/java/target/surefire-reports"
    env SLUICE_BIN="$ROOT/target/release/sluice" mvn -q -B -f "$ROOT/compat-tests/java/pom.xml" test || rc=$?
    cat "$ROOT"/compat-tests/java/target/surefire-reports/TEST-*.xml 2>/dev/null \
        | sed -n 's/^<testsuite [^>]*tests="\([0-9]*\)" errors="\([0-9]*\)" skipped="\([0-9]*\)" failures="\([0-9]*\)".*/\1 \2 \3 \4/p' \
        | awk '{t+=$1; e+=$2; s+=$3; f+=$4} END {printf "Java suite: %d tests run, %d failures, %d errors, %d skipped\n", t, f, e, s}'
    return $rc
}

step() {
    local name="$1"
    shift
    printf '\n==================== %s ====================\n' "$name"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    if [[ $rc -eq 0 ]]; then
        printf -- '---- %s: ok (%ss)\n' "$name" "$((SECONDS - start))"
        RESULTS+=("ok      $name ($((SECONDS - start))s)")
    else
        printf -- '---- %s: FAILED with exit code %s (%ss)\n' "$name" "$rc" "$((SECONDS - start))"
        RESULTS+=("FAILED  $name (exit code $rc)")
        FAILURES=$((FAILURES + 1))
    fi
    return $rc
}

FMT_COLOR=()
[[ -t 1 ]] || FMT_COLOR=(--color never)  # rustfmt colours its diff even into a CI log otherwise
step "cargo fmt --check" cargo fmt --all -- --check "${FMT_COLOR[@]}" || true
step "cargo clippy (-D warnings)" cargo clippy --workspace --all-targets --release -- -D warnings || true
if step "cargo build --release" cargo build --release --workspace --all-targets; then
    step "cargo test --release" cargo test --release --workspace --no-fail-fast || true
    step "pytest: Python clients and kcat (compat-tests/python)" \
        env SLUICE_BIN="$ROOT/target/release/sluice" "$VENV/bin/python" -m pytest "$PYDIR" -ra || true
    step "mvn: Java client, AdminClient, CLI tools and Streams (compat-tests/java)" java_tests || true
else
    RESULTS+=("skipped cargo test, pytest, mvn (the build failed)")
fi

printf '\n==================== summary (%ss) ====================\n' "$((SECONDS - START_ALL))"
printf '  %s\n' "${RESULTS[@]}"
if [[ $FAILURES -ne 0 ]]; then
    STEP_NAME="summary: $FAILURES step(s) failed"
    exit 1
fi
echo "all steps passed"
