#!/usr/bin/env bash
# Kafka's own perf tools, kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance) and
# kafka-consumer-perf-test (org.apache.kafka.tools.ConsumerPerformance), against a fresh Sluice and a fresh Apache
# Kafka, back to back, with their summary lines and a Markdown table of both (for BENCHMARKS.md):
#
#   compat-tests/kafka/perf-tools.sh                                      # 5M x 100 B, acks=1 and acks=all
#   compat-tests/kafka/perf-tools.sh --records 1000000 --acks all --partitions 8
#   compat-tests/kafka/perf-tools.sh --sluice-bin /path/to/sluice --brokers sluice
#
# Each run (one acks value on one broker) gets a new broker on a fresh data directory. kafka-topics (TopicCommand)
# creates the topic, ProducerPerformance sends --records records of --record-size bytes with --throughput -1 and
# the producer's defaults but acks, ConsumerPerformance reads them all back, and the broker's CPU time and peak RSS
# (VmHWM) are read from /proc before it is stopped: for Kafka, those of the JVM that run-kafka.sh starts as its child,
# not the script's. For each acks value Sluice and Kafka run one right after the other (which goes first alternates),
# and the load average is printed before each run: the machine's other work shows there.
#
# The tools run as bin/kafka-producer-perf-test.sh and bin/kafka-consumer-perf-test.sh run them: java -Xmx512M with
# bin/kafka-run-class.sh's JVM options, on the Java suite's classpath (compat-tests/java/target/kafka-tools.classpath,
# written by Maven on first use). Kafka runs with bin/kafka-server-start.sh's heap (-Xmx1G -Xms1G) and
# kafka-run-class.sh's JVM options unless KAFKA_HEAP_OPTS / KAFKA_JVM_PERFORMANCE_OPTS are set, as sluice-bench
# --compare-kafka does. Needs bash, a JDK 17+, Maven (once) and python3 (for run-kafka.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
POM="$HERE/../java/pom.xml"
TOOLS_CLASSPATH_FILE="$HERE/../java/target/kafka-tools.classpath"

RECORDS=5000000
RECORD_SIZE=100
PARTITIONS=1
ACKS_LIST="1 all"
BROKERS="sluice kafka"
SLUICE_BIN="${SLUICE_BIN:-$ROOT/target/release/sluice}"
KAFKA_BIN="$HERE/run-kafka.sh"
TOOL_TIMEOUT=900

usage() {
    sed -n '2,8p' "$0" >&2
    echo "options: --records N --record-size BYTES --partitions N --acks '1 all' --brokers 'sluice kafka'" >&2
    echo "         --sluice-bin PATH (default \$SLUICE_BIN or target/release/sluice) --kafka-bin PATH" >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --records) RECORDS="${2:?}"; shift 2 ;;
        --record-size) RECORD_SIZE="${2:?}"; shift 2 ;;
        --partitions) PARTITIONS="${2:?}"; shift 2 ;;
        --acks) ACKS_LIST="${2:?}"; shift 2 ;;
        --brokers) BROKERS="${2:?}"; shift 2 ;;
        --sluice-bin) SLUICE_BIN="${2:?}"; shift 2 ;;
        --kafka-bin) KAFKA_BIN="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}"
export KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"
# What bin/kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh give the tools' JVM (they set -Xmx512M, then
# kafka-run-class.sh adds its performance options). The tools log through slf4j-simple: warnings only.
# shellcheck disable=SC2206
TOOL_JAVA=(java -Xmx512M -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)

if [[ ! -s "$TOOLS_CLASSPATH_FILE" || "$POM" -nt "$TOOLS_CLASSPATH_FILE" ]]; then
    echo "perf-tools.sh: resolving the Kafka tools' jars with mvn (cached in ~/.m2)" >&2
    mvn -q -B -f "$POM" generate-test-resources >&2
    # The plugin leaves an unchanged file as it was: mark it as checked against this pom.
    touch "$TOOLS_CLASSPATH_FILE"
fi
TOOLS_CP="$(cat "$TOOLS_CLASSPATH_FILE")"

for broker in $BROKERS; do
    case "$broker" in
        sluice) [[ -x "$SLUICE_BIN" ]] || { echo "no sluice binary at $SLUICE_BIN (cargo build --release -p sluice)" >&2; exit 2; } ;;
        kafka) [[ -x "$KAFKA_BIN" ]] || { echo "no Kafka launcher at $KAFKA_BIN" >&2; exit 2; } ;;
        *) echo "unknown broker: $broker (sluice or kafka)" >&2; exit 2 ;;
    esac
done

WORK=""
LAUNCHER=""
SERVER=""
BOOTSTRAP=""
cleanup() {
    [[ -n "$SERVER" ]] && kill -KILL "$SERVER" 2>/dev/null
    [[ -n "$LAUNCHER" ]] && kill -KILL "$LAUNCHER" 2>/dev/null
    [[ -n "$WORK" ]] && rm -rf "$WORK"
    true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a broker (sluice, or run-kafka.sh) on a fresh data dir; sets LAUNCHER, SERVER (the JVM for Kafka), BOOTSTRAP.
start_broker() {
    local bin="$1"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/perf-tools-XXXXXX")"
    mkdir -p "$WORK/data"
    NO_COLOR=1 "$bin" --listen 127.0.0.1:0 --data-dir "$WORK/data" > /dev/null 2> "$WORK/broker.log" < /dev/null &
    LAUNCHER=$!
    local deadline=$((SECONDS + 180)) line=""
    until line="$(grep -o -m1 'listen=[^ ]*' "$WORK/broker.log" 2>/dev/null)"; do
        if ! kill -0 "$LAUNCHER" 2>/dev/null || [[ $SECONDS -ge $deadline ]]; then
            tail -40 "$WORK/broker.log" >&2
            echo "perf-tools.sh: $bin did not print listen=HOST:PORT" >&2
            exit 1
        fi
        sleep 0.05
    done
    BOOTSTRAP="$(sed -E 's/^listen=//; s/["]//g; s/[,;]$//; s/^0\.0\.0\.0:/127.0.0.1:/' <<< "$line")"
    SERVER="$LAUNCHER"
    local jvm
    jvm="$(pgrep -P "$LAUNCHER" -x java | head -1 || true)"
    [[ -n "$jvm" ]] && SERVER="$jvm"
    true
}

stop_broker() {
    kill -TERM "$LAUNCHER" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$LAUNCHER" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do
        sleep 0.1
    done
    kill -KILL "$SERVER" "$LAUNCHER" 2>/dev/null || true
    wait "$LAUNCHER" 2>/dev/null || true
    rm -rf "$WORK"
    WORK="" LAUNCHER="" SERVER=""
}

# utime + stime of a process, in seconds; its peak and current RSS in MiB.
cpu_seconds() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($12 + $13) / hz }'; }
status_mib() { awk -v key="$2:" '$1 == key { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

run_tool() {
    local out="$1"; shift
    if ! timeout "$TOOL_TIMEOUT" "${TOOL_JAVA[@]}" -cp "$TOOLS_CP" "$@" > "$out" 2> "$out.err" < /dev/null; then
        cat "$out" "$out.err" >&2
        echo "perf-tools.sh: $2 failed" >&2
        exit 1
    fi
}

ROWS=()
echo "perf-tools.sh: $RECORDS records x $RECORD_SIZE B, $PARTITIONS partition(s), acks: $ACKS_LIST; brokers: $BROKERS"
echo "perf-tools.sh: machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "perf-tools.sh: Kafka JVM: KAFKA_HEAP_OPTS=\"$KAFKA_HEAP_OPTS\" KAFKA_JVM_PERFORMANCE_OPTS=\"$KAFKA_JVM_PERFORMANCE_OPTS\""
turn=0
for acks in $ACKS_LIST; do
    order=($BROKERS)
    if [[ ${#order[@]} -eq 2 && $((turn % 2)) -eq 1 ]]; then
        order=("${order[1]}" "${order[0]}")
    fi
    turn=$((turn + 1))
    for broker in "${order[@]}"; do
        case "$broker" in
            sluice) bin="$SLUICE_BIN"; name="Sluice" ;;
            kafka) bin="$KAFKA_BIN"; name="Apache Kafka" ;;
        esac
        load="$(cut -d' ' -f1-3 /proc/loadavg)"
        echo
        echo "== $name, acks=$acks (load average $load)"
        start_broker "$bin"
        rss_start="$(status_mib "$SERVER" VmRSS)"
        cpu_start="$(cpu_seconds "$SERVER")"
        topic="perf-tools-acks-$acks"
        run_tool "$WORK/topic.out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create \
            --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1
        run_tool "$WORK/producer.out" org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$BOOTSTRAP" \
            --topic "$topic" --num-records "$RECORDS" --record-size "$RECORD_SIZE" --throughput -1 \
            --command-property "acks=$acks"
        run_tool "$WORK/consumer.out" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BOOTSTRAP" \
            --topic "$topic" --num-records "$RECORDS" --group "perf-tools-$$-$acks" --timeout 60000
        cpu="$(awk -v a="$cpu_start" -v b="$(cpu_seconds "$SERVER")" 'BEGIN { printf "%.1f", b - a }')"
        hwm="$(status_mib "$SERVER" VmHWM)"

        producer="$(grep -E '^[0-9]+ records sent, .* 99\.9th\.$' "$WORK/producer.out" || true)"
        consumer_header="$(grep -m1 '^start.time, end.time' "$WORK/consumer.out" || true)"
        consumer="$(grep -A1 -m1 '^start.time, end.time' "$WORK/consumer.out" | tail -1 || true)"
        echo "ProducerPerformance: ${producer:-(no summary line)}"
        echo "ConsumerPerformance: ${consumer_header:-(no header line)}"
        echo "                     ${consumer:-(no values line)}"
        echo "broker: CPU ${cpu} s over the three tools, peak RSS (VmHWM) ${hwm} MiB, RSS at start ${rss_start} MiB"
        stop_broker

        # shellcheck disable=SC2001
        p="$(sed -E 's/^([0-9]+) records sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ([0-9]+) ms 50th, ([0-9]+) ms 95th, ([0-9]+) ms 99th, ([0-9]+) ms 99\.9th\.$/\1|\2|\3|\4|\5|\6|\7|\8|\9/' <<< "$producer")"
        IFS='|' read -r sent p_rate p_mb p_avg p_max p50 p95 p99 p999 <<< "$p"
        IFS=',' read -r _ _ c_mb c_mbs c_n c_rate c_rebalance _ _ c_fetch_rate <<< "$consumer"
        note=""
        [[ "${sent:-0}" == "$RECORDS" ]] || note="producer acknowledged ${sent:-?} of $RECORDS; "
        [[ "$(echo "${c_n:-0}" | tr -d ' ')" == "$RECORDS" ]] || note+="consumer read ${c_n:-?} of $RECORDS; "
        ROWS+=("| $name | $acks | $(printf '%.0f' "${p_rate:-0}") | ${p_mb:-?} | ${p_avg:-?} | ${p50:-?} | ${p99:-?} | ${p999:-?} | ${p_max:-?} | $(printf '%.0f' "${c_rate:-0}") | $(printf '%.0f' "${c_fetch_rate:-0}") | $(echo "${c_rebalance:-?}" | tr -d ' ') | $cpu | $hwm | $rss_start | $load | ${note%; } |")
    done
done

echo
echo "| broker | acks | producer rec/s | producer MB/s | avg ms | p50 ms | p99 ms | p99.9 ms | max ms | consumer rec/s | consumer rec/s after group join | group join ms | broker CPU s | broker peak RSS MiB | RSS at start MiB | load average before | notes |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"
printf '%s\n' "${ROWS[@]}"
