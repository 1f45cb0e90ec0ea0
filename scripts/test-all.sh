#!/usr/bin/env bash
# Sluice's one test command: what CI runs (.ci/run) and what a developer runs before pushing.
#
#   scripts/test-all.sh                      everything, in this order (what CI runs):
#
#   setup    tools         kcat (Debian package), a Python venv at compat-tests/python/.venv with
#                          compat-tests/python/requirements.txt (reused while the requirements are unchanged), a JDK 17+
#                          and Maven, rustfmt and clippy
#   sluice   fmt           cargo fmt --all -- --check
#            clippy        cargo clippy --workspace --all-targets --release -- -D warnings
#            build         cargo build --release --workspace --all-targets
#            rust          cargo test --release --workspace (unit tests and the Rust compat tests in compat-tests/)
#            python        the Python-client and kcat suite in compat-tests/python against target/release/sluice
#            java          the Java suite in compat-tests/java (Apache Kafka's Java client, AdminClient, command-line
#                          tools and Kafka Streams) against target/release/sluice; Maven caches its downloads in ~/.m2
#   kafka    prepare       compat-tests/kafka/run-kafka.sh --prepare: the reference Apache Kafka 4.4.0 (the version
#                          pinned in compat-tests/java/pom.xml): its jars from Maven Central (cached in ~/.m2) and
#                          the JVM's class archive
#            rust          every Rust compat-test file (cargo test --release --workspace --test '*': the files in
#                          compat-tests/tests, not the unit tests), --test-threads=4 (KAFKA_TEST_THREADS): the
#                          tests of one file that need no broker of their own share one Kafka per config
#            python        the Python and kcat suite
#            java          the Java suite
#                          each against Apache Kafka (SLUICE_BIN=compat-tests/kafka/run-kafka.sh SLUICE_TARGET=kafka),
#                          the reference every compat test must also pass (compat-tests/FINDINGS.md)
#
#   scripts/test-all.sh --only PART[,PART...]   a part alone. A PART is a target, `sluice` or `kafka`, or a
#                          suite, `lint` (fmt and clippy), `rust`, `python` or `java`; the run is every step of the
#                          named targets (both if none is named) and the named suites (all if none is named):
#                          `--only kafka` is the whole reference pass, `--only python` the Python suite against Sluice
#                          and against Kafka, `--only sluice,java` or `--only kafka,rust` one suite against one broker.
#                          Setup installs only what the selected steps need.
#
# Setup stops at the first error. The steps each run even when an earlier one failed, so one run reports every
# problem, except that Sluice's tests need a successful build and the Kafka suites a successful prepare; a summary
# closes the output and the exit code is non-zero if any step failed. Every test step runs under `timeout` (limits
# of 15-25 minutes, LIMIT_* in the script: several times a normal run on 2 busy cores; and never past
# TEST_ALL_BUDGET_MIN minutes, default 85, after the script started) in a process group of its own; when it ends or times out, whatever it
# left behind in that group (a broker, a Kafka JVM) is stopped (SIGTERM, then SIGKILL). Needs root, or
# passwordless sudo, only to install kcat, a JDK or Maven when one is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYDIR="$ROOT/compat-tests/python"
VENV="$PYDIR/.venv"
RUN_KAFKA="$ROOT/compat-tests/kafka/run-kafka.sh"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive
START_ALL=$SECONDS
STEP_START=$SECONDS
STEP_NAME=""

# Time limits (seconds) of the test steps: several times a run on 2 idle cores, as measured on 2026-12-07 (the
# Kafka Rust and Python figures are before / after sharing one Kafka between tests; Rust's excludes its build).
LIMIT_SLUICE_RUST=1200    # 185 s (unit and compat tests)
LIMIT_SLUICE_PYTHON=900   # 53 s
LIMIT_SLUICE_JAVA=900     # 91 s
LIMIT_KAFKA_PREPARE=900   # 7 s / 31 s (the 7 s included downloading the broker's jars)
LIMIT_KAFKA_RUST=1500     # 828 s / 545 s
LIMIT_KAFKA_PYTHON=1500   # 461 s / 230 s
LIMIT_KAFKA_JAVA=900      # 191 s
BUDGET=$((${TEST_ALL_BUDGET_MIN:-85} * 60))
KAFKA_TEST_THREADS="${KAFKA_TEST_THREADS:-4}"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

# ---------------------------------------------------------------------------------------------------------
# Which steps run: targets x suites.
declare -A TARGETS=() SUITES=()
parse_only() {
    local part
    IFS=',' read -ra parts <<< "$1"
    for part in "${parts[@]}"; do
        case "$part" in
            sluice|kafka) TARGETS[$part]=1 ;;
            lint|rust|python|java) SUITES[$part]=1 ;;
            "") ;;
            *) echo "unknown part '$part' (parts: sluice, kafka, lint, rust, python, java)" >&2; usage 2 >&2 ;;
        esac
    done
}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) [[ $# -ge 2 ]] || usage 2 >&2; parse_only "$2"; shift 2 ;;
        --only=*) parse_only "${1#*=}"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=([sluice]=1 [kafka]=1)
[[ ${#SUITES[@]} -gt 0 ]] || SUITES=([lint]=1 [rust]=1 [python]=1 [java]=1)
# selected TARGET SUITE: whether that step is part of this run.
selected() { [[ -n "${TARGETS[$1]:-}" && -n "${SUITES[$2]:-}" ]]; }
sluice_tests() { selected sluice rust || selected sluice python || selected sluice java; }
kafka_tests() { selected kafka rust || selected kafka python || selected kafka java; }
if ! selected sluice lint && ! sluice_tests && ! kafka_tests; then
    echo "nothing to run: lint is a check of Sluice's code, not a suite to run against Kafka" >&2
    exit 2
fi
needs() {  # needs TOOL: whether a selected step uses it
    case "$1" in
        python) selected sluice python || selected kafka python ;;
        java) selected sluice java || kafka_tests ;;  # run-kafka.sh runs Kafka on the JDK, jars from Maven
        rust-lint) selected sluice lint ;;
    esac
}

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

# librdkafka in the Rust compat tests is built with TLS and SCRAM support, which links OpenSSL.
if ! pkg-config --exists openssl 2>/dev/null; then
    echo "installing OpenSSL headers (apt-get libssl-dev pkg-config)"
    apt_install libssl-dev pkg-config
fi

if needs python; then
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
fi

# The Java suite needs a JDK 17 or newer (javac, for the test classes) and Maven; so does the reference Kafka.
java_major() {
    java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1
}
if needs java; then
    if ! command -v javac >/dev/null 2>&1 || [[ "$(java_major)" -lt 17 ]]; then
        echo "installing a JDK (apt-get openjdk-17-jdk-headless)"
        apt_install openjdk-17-jdk-headless
    fi
    if ! command -v mvn >/dev/null 2>&1; then
        echo "installing Maven (apt-get maven)"
        apt_install maven
    fi
    echo "java $(java_major), $(mvn -v 2>/dev/null | sed -n '1s/\x1b\[[0-9;]*m//g; 1p')"
fi

if needs rust-lint && command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
            rustup component add "$component"
        fi
    done
fi
cargo --version

# ---------------------------------------------------------------------------------------------------------
# The checks. Each runs even when an earlier one failed (a CI run then reports every problem at once), except
# that Sluice's tests need a successful build and the Kafka suites a successful prepare. The script exits
# non-zero if any step failed.
finish_section
STEP_NAME=""
RESULTS=()
FAILURES=0

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
        local why="exit code $rc"
        [[ $rc -eq 124 ]] && why="timed out"
        [[ $rc -eq 125 ]] && why="not started: the time budget TEST_ALL_BUDGET_MIN is spent"
        printf -- '---- %s: FAILED, %s (%ss)\n' "$name" "$why" "$((SECONDS - start))"
        RESULTS+=("FAILED  $name ($why, $((SECONDS - start))s)")
        FAILURES=$((FAILURES + 1))
    fi
    return $rc
}

# bounded LIMIT COMMAND...: COMMAND under `timeout` (SIGTERM at LIMIT seconds, or when the run's budget is spent,
# SIGKILL 30 s later), in a process group of its own (timeout makes one and signals all of it). Whatever is left in
# the group when the command ends (a broker a test did not stop, a Kafka JVM still shutting down) gets SIGTERM,
# then SIGKILL after 15 s, so no step leaves a process running. Exit code 124 when the limit was hit, 125 when
# the budget was spent before the start.
STEP_GROUP=""
bounded() {
    local limit=$1 rc=0
    shift
    local left=$((BUDGET - (SECONDS - START_ALL)))
    if [[ $left -le 0 ]]; then
        return 125
    fi
    if [[ $limit -gt $left ]]; then
        echo "(time limit ${left}s, what is left of the ${BUDGET}s budget)"
        limit=$left
    fi
    timeout --signal=TERM --kill-after=30 "$limit" "$@" &
    STEP_GROUP=$!
    wait "$STEP_GROUP" || rc=$?
    stop_group "$STEP_GROUP"
    STEP_GROUP=""
    return $rc
}
group_alive() {  # whether process group $1 has a member that is not a zombie
    ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {alive = 1} END {exit !alive}'
}
stop_group() {
    local group=$1 deadline=$((SECONDS + 15))
    group_alive "$group" || return 0
    echo "stopping what the step left running:"
    ps -eo pgid=,pid=,args= | awk -v g="$group" '$1 == g {$1 = ""; print "   " substr($0, 1, 200)}'
    kill -TERM -- "-$group" 2>/dev/null || true
    while group_alive "$group"; do
        if [[ $SECONDS -ge $((deadline + 15)) ]]; then
            echo "process group $group still alive after SIGKILL" >&2
            return 0
        fi
        [[ $SECONDS -ge $deadline ]] && { kill -KILL -- "-$group" 2>/dev/null || true; }
        sleep 0.5
    done
}
# Interrupted (Ctrl-C, or CI cancelling): the running step's group is outside our own, so stop it here.
on_signal() {
    trap - INT TERM
    if [[ -n "$STEP_GROUP" ]]; then
        echo "interrupted: stopping the running step" >&2
        kill -TERM -- "-$STEP_GROUP" 2>/dev/null || true
        stop_group "$STEP_GROUP"
    fi
    STEP_NAME="interrupted"
    exit 130
}
trap on_signal INT TERM

# The Java suite against BIN, quiet unless something fails (mvn -q), then one line counting what Surefire ran.
# Exported, for `bounded` to run it in a bash of its own.
java_tests() {
    local bin=$1 rc=0
    rm -rf "$ROOT/compat-tests/java/target/surefire-reports"
    env SLUICE_BIN="$bin" mvn -q -B -f "$ROOT/compat-tests/java/pom.xml" test || rc=$?
    cat "$ROOT"/compat-tests/java/target/surefire-reports/TEST-*.xml 2>/dev/null \
        | sed -n 's/^<testsuite [^>]*tests="\([0-9]*\)" errors="\([0-9]*\)" skipped="\([0-9]*\)" failures="\([0-9]*\)".*/\1 \2 \3 \4/p' \
        | awk '{t+=$1; e+=$2; s+=$3; f+=$4} END {printf "Java suite: %d tests run, %d failures, %d errors, %d skipped\n", t, f, e, s}'
    return $rc
}
export -f java_tests
export ROOT

SLUICE="$ROOT/target/release/sluice"
KAFKA_ENV=(env SLUICE_BIN="$RUN_KAFKA" SLUICE_TARGET=kafka)

# --- against Sluice ----------------------------------------------------------------------------------------
if selected sluice lint; then
    FMT_COLOR=()
    [[ -t 1 ]] || FMT_COLOR=(--color never)  # rustfmt colours its diff even into a CI log otherwise
    step "cargo fmt --check" cargo fmt --all -- --check "${FMT_COLOR[@]}" || true
    step "cargo clippy (-D warnings)" cargo clippy --workspace --all-targets --release -- -D warnings || true
fi
if sluice_tests; then
    if selected sluice rust || selected kafka rust; then
        BUILD=(cargo build --release --workspace --all-targets)
    else
        BUILD=(cargo build --release -p sluice --bin sluice)  # the Python and Java suites need only the broker
    fi
    if step "cargo build --release" "${BUILD[@]}"; then
        if selected sluice rust; then
            step "cargo test --release" bounded $LIMIT_SLUICE_RUST cargo test --release --workspace --no-fail-fast || true
        fi
        if selected sluice python; then
            step "pytest: Python clients and kcat (compat-tests/python)" bounded $LIMIT_SLUICE_PYTHON \
                env SLUICE_BIN="$SLUICE" "$VENV/bin/python" -m pytest "$PYDIR" -ra || true
        fi
        if selected sluice java; then
            step "mvn: Java client, AdminClient, CLI tools and Streams (compat-tests/java)" \
                bounded $LIMIT_SLUICE_JAVA bash -c 'java_tests "$1"' java_tests "$SLUICE" || true
        fi
    else
        RESULTS+=("skipped the tests against Sluice (the build failed)")
    fi
fi

# --- against the reference Apache Kafka ----------------------------------------------------------------------
# A Kafka broker is a JVM (~5 s to start here, ~400 MB): the Rust and Python tests that need no broker of their own
# share one per test file (Rust) or session (Python) and config (compat-tests/src/lib.rs, python/conftest.py), and
# the Rust tests run four at a time, since most of their time is waiting; the Java suite starts one at a time. The Rust step builds what it needs itself (compat-tests does not depend on
# Sluice's crate), so a failed Sluice build does not stop it.
if kafka_tests; then
    if step "reference Kafka: run-kafka.sh --prepare (jars, class archive)" \
        bounded $LIMIT_KAFKA_PREPARE "$RUN_KAFKA" --prepare; then
        if selected kafka rust; then
            # differential.rs starts target/release/sluice beside each Kafka it compares with: build it when the
            # Sluice steps did not (`--only kafka`).
            if ! sluice_tests; then
                step "cargo build --release (sluice, for differential.rs)" \
                    cargo build --release -p sluice --bin sluice || true
            fi
            # --workspace --test '*': every test file of compat-tests/tests (Sluice's crate has none), built with
            # the workspace's features like the steps above; `-p compat-tests` would build its dependencies again.
            step "reference Kafka: Rust compat tests (compat-tests/tests)" bounded $LIMIT_KAFKA_RUST \
                "${KAFKA_ENV[@]}" cargo test --release --workspace --test '*' --no-fail-fast \
                -- --test-threads="$KAFKA_TEST_THREADS" || true
        fi
        if selected kafka python; then
            step "reference Kafka: pytest (compat-tests/python)" bounded $LIMIT_KAFKA_PYTHON \
                "${KAFKA_ENV[@]}" "$VENV/bin/python" -m pytest "$PYDIR" -ra || true
        fi
        if selected kafka java; then
            step "reference Kafka: mvn (compat-tests/java)" bounded $LIMIT_KAFKA_JAVA \
                "${KAFKA_ENV[@]}" bash -c 'java_tests "$1"' java_tests "$RUN_KAFKA" || true
        fi
    else
        RESULTS+=("skipped the suites against Kafka (run-kafka.sh --prepare failed)")
    fi
fi

printf '\n==================== summary (%ss) ====================\n' "$((SECONDS - START_ALL))"
printf '  %s\n' "${RESULTS[@]}"
if [[ $FAILURES -ne 0 ]]; then
    STEP_NAME="summary: $FAILURES step(s) failed"
    exit 1
fi
echo "all steps passed"
