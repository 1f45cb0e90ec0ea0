#!/usr/bin/env bash
# A reference Apache Kafka with sluice's command-line contract, so any compat test can run against real Kafka:
#
#   SLUICE_BIN=compat-tests/kafka/run-kafka.sh mvn -q -B -f compat-tests/java/pom.xml test
#   SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh cargo test --release -p compat-tests
#   SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh compat-tests/python/.venv/bin/python -m pytest compat-tests/python
#
#   run-kafka.sh --listen HOST:PORT --data-dir DIR [--config FILE.yaml] [--advertise HOST:PORT] [--node-id N]
#
# It starts one KRaft node (broker and controller, plaintext) of the Kafka version pinned in
# compat-tests/java/pom.xml (`kafka.version`), with its log in DIR/kafka, and prints `listen=HOST:PORT` on stderr
# once the broker accepts connections. Port 0 picks a free port; the controller gets another free port. The node is
# formatted on first start only, so a restart on the same DIR keeps the data. SIGTERM (or SIGINT) stops Kafka
# cleanly and the script exits 0.
#
# The broker's jars come from Maven Central through `mvn -P kafka-broker dependency:build-classpath` on the Java
# suite's pom (cached in ~/.m2; the classpath in compat-tests/java/target/kafka-broker.classpath). The keys of
# sluice's YAML config that have a Kafka equivalent are mapped to it (see map_key); the others are ignored.
# KAFKA_HEAP_OPTS (default -Xmx512m -Xms256m) and KAFKA_LOG_LEVEL (default warn) tune the JVM.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/../java/pom.xml"
CLASSPATH_FILE="$HERE/../java/target/kafka-broker.classpath"

usage() {
    echo "usage: $0 --listen HOST:PORT --data-dir DIR [--config FILE.yaml] [--advertise HOST:PORT] [--node-id N]" >&2
    exit 2
}

LISTEN=""
DATA_DIR=""
CONFIG=""
ADVERTISE=""
NODE_ID=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --listen) LISTEN="${2:?}"; shift 2 ;;
        --data-dir) DATA_DIR="${2:?}"; shift 2 ;;
        --config) CONFIG="${2:?}"; shift 2 ;;
        --advertise) ADVERTISE="${2:?}"; shift 2 ;;
        --node-id) NODE_ID="${2:?}"; shift 2 ;;
        --listen=*) LISTEN="${1#*=}"; shift ;;
        --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
        --config=*) CONFIG="${1#*=}"; shift ;;
        --advertise=*) ADVERTISE="${1#*=}"; shift ;;
        --node-id=*) NODE_ID="${1#*=}"; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

# --- the broker's classpath, resolved once per pom change ------------------------------------------------------
if [[ ! -s "$CLASSPATH_FILE" || "$POM" -nt "$CLASSPATH_FILE" ]]; then
    mkdir -p "$(dirname "$CLASSPATH_FILE")"
    tmp="$CLASSPATH_FILE.$$"
    echo "run-kafka.sh: resolving the Kafka broker's jars with mvn (cached in ~/.m2)" >&2
    mvn -q -B -f "$POM" -P kafka-broker dependency:build-classpath \
        -Dmdep.includeScope=runtime -Dmdep.outputFile="$tmp" >&2
    mv -f "$tmp" "$CLASSPATH_FILE"
fi
KAFKA_CP="$(cat "$CLASSPATH_FILE")"

# --- configuration -----------------------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# sluice YAML key -> Kafka broker property (the ones tests set; unknown keys are ignored).
map_key() {
    case "$1" in
        node_id) echo node.id ;;
        auto_create_topics) echo auto.create.topics.enable ;;
        num_partitions) echo num.partitions ;;
        max_request_bytes) echo socket.request.max.bytes ;;
        max_message_bytes) echo message.max.bytes ;;
        max_connections) echo max.connections ;;
        group_min_session_timeout_ms) echo group.min.session.timeout.ms ;;
        group_max_session_timeout_ms) echo group.max.session.timeout.ms ;;
        group_initial_rebalance_delay_ms) echo group.initial.rebalance.delay.ms ;;
        offset_metadata_max_bytes) echo offset.metadata.max.bytes ;;
        log_retention_ms) echo log.retention.ms ;;
        log_retention_bytes) echo log.retention.bytes ;;
        log_cleanup_policy) echo log.cleanup.policy ;;
        log_message_timestamp_type) echo log.message.timestamp.type ;;
        log_cleaner_delete_retention_ms) echo log.cleaner.delete.retention.ms ;;
        log_cleaner_min_compaction_lag_ms) echo log.cleaner.min.compaction.lag.ms ;;
        log_cleanup_interval_ms) echo log.retention.check.interval.ms ;;
        producer_id_expiration_ms) echo producer.id.expiration.ms ;;
        *) echo "" ;;
    esac
}

declare -A SETTINGS=(
    [node.id]=1
    [auto.create.topics.enable]=true
    [num.partitions]=1
    [group.initial.rebalance.delay.ms]=0
)
if [[ -n "$CONFIG" ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line%%#*}"
        [[ "$line" =~ ^[[:space:]]*([a-z_]+)[[:space:]]*:[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] || continue
        key="${BASH_REMATCH[1]}"
        value="${BASH_REMATCH[2]}"
        value="${value#\"}"; value="${value%\"}"
        case "$key" in
            # As with sluice, the command line wins over the file.
            listen) [[ -n "$LISTEN" ]] || LISTEN="$value" ;;
            data_dir) [[ -n "$DATA_DIR" ]] || DATA_DIR="$value" ;;
            advertise) [[ -n "$ADVERTISE" ]] || ADVERTISE="$value" ;;
            *)
                prop="$(map_key "$key")"
                if [[ -n "$prop" ]]; then
                    SETTINGS[$prop]="$value"
                fi
                ;;
        esac
    done < "$CONFIG"
fi
[[ -n "$NODE_ID" ]] && SETTINGS[node.id]="$NODE_ID"
NODE="${SETTINGS[node.id]}"

[[ -n "$LISTEN" ]] || LISTEN="[::]:9092"
HOST="${LISTEN%:*}"
PORT="${LISTEN##*:}"
HOST="${HOST#[}"; HOST="${HOST%]}"
[[ -z "$HOST" || "$HOST" == "::" || "$HOST" == "0.0.0.0" ]] && BIND_HOST="" || BIND_HOST="$HOST"
[[ "$PORT" == "0" ]] && PORT="$(free_port)"
CONTROLLER_PORT="$(free_port)"
ADV_HOST="${BIND_HOST:-localhost}"
ADVERTISED="${ADVERTISE:-$ADV_HOST:$PORT}"

[[ -n "$DATA_DIR" ]] || DATA_DIR="./data"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
LOG_DIR="$DATA_DIR/kafka"
PROPS="$DATA_DIR/server.properties"

{
    echo "process.roles=broker,controller"
    echo "controller.quorum.voters=$NODE@127.0.0.1:$CONTROLLER_PORT"
    echo "listeners=PLAINTEXT://$BIND_HOST:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT"
    echo "advertised.listeners=PLAINTEXT://$ADVERTISED"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "log.dirs=$LOG_DIR"
    # One broker: every internal topic has one replica, and few partitions so the coordinators load fast.
    echo "offsets.topic.replication.factor=1"
    echo "offsets.topic.num.partitions=1"
    echo "transaction.state.log.replication.factor=1"
    echo "transaction.state.log.min.isr=1"
    echo "transaction.state.log.num.partitions=1"
    echo "share.coordinator.state.topic.replication.factor=1"
    echo "share.coordinator.state.topic.min.isr=1"
    echo "default.replication.factor=1"
    echo "min.insync.replicas=1"
    for prop in "${!SETTINGS[@]}"; do
        echo "$prop=${SETTINGS[$prop]}"
    done
} > "$PROPS"

JAVA_OPTS=(${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} -XX:+UseG1GC -Djava.awt.headless=true
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=${KAFKA_LOG_LEVEL:-warn}"
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.logFile=System.err
    -cp "$KAFKA_CP")

if [[ ! -f "$LOG_DIR/meta.properties" ]]; then
    CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" --config "$PROPS" \
        --ignore-formatted >&2
fi

# --- run until SIGTERM -------------------------------------------------------------------------------------------
java "${JAVA_OPTS[@]}" kafka.Kafka "$PROPS" >&2 &
KAFKA_PID=$!
STOPPING=0
stop() {
    STOPPING=1
    kill -TERM "$KAFKA_PID" 2>/dev/null || true
}
trap stop TERM INT

READY_HOST="${BIND_HOST:-127.0.0.1}"
LISTEN_SHOWN="${BIND_HOST:-0.0.0.0}:$PORT"
[[ "$LISTEN_SHOWN" == *:*:* ]] && LISTEN_SHOWN="[${BIND_HOST}]:$PORT"
deadline=$((SECONDS + 120))
until (exec 3<>"/dev/tcp/$READY_HOST/$PORT") 2>/dev/null; do
    if ! kill -0 "$KAFKA_PID" 2>/dev/null || [[ $STOPPING -eq 1 ]]; then
        wait "$KAFKA_PID" || true
        [[ $STOPPING -eq 1 ]] && exit 0
        echo "run-kafka.sh: Kafka exited before accepting connections" >&2
        exit 1
    fi
    if [[ $SECONDS -ge $deadline ]]; then
        echo "run-kafka.sh: Kafka did not accept connections on $READY_HOST:$PORT within 120s" >&2
        stop
        wait "$KAFKA_PID" || true
        exit 1
    fi
    sleep 0.2
done
echo "run-kafka.sh: Apache Kafka started listen=$LISTEN_SHOWN advertise=$ADVERTISED node_id=$NODE data_dir=$DATA_DIR" >&2

# `wait` returns early when a trapped signal arrives: keep waiting until the JVM is gone.
rc=0
while kill -0 "$KAFKA_PID" 2>/dev/null; do
    wait "$KAFKA_PID" && rc=0 || rc=$?
done
if [[ $STOPPING -eq 1 ]]; then
    exit 0
fi
echo "run-kafka.sh: Kafka exited with code $rc" >&2
exit "$rc"
