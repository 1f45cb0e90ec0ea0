#!/usr/bin/env bash
# A reference Apache Kafka with sluice's command-line contract, so any compat test can run against real Kafka:
#
#   SLUICE_BIN=compat-tests/kafka/run-kafka.sh mvn -q -B -f compat-tests/java/pom.xml test
#   SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh cargo test --release -p compat-tests
#   SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh compat-tests/python/.venv/bin/python -m pytest compat-tests/python
#
#   run-kafka.sh --listen HOST:PORT --data-dir DIR [--config FILE.yaml] [--advertise HOST:PORT] [--node-id N]
#   run-kafka.sh --prepare      # resolve the jars and write the JVM's class archive now, not in the first test
#
# It starts one KRaft node (broker and controller, plaintext) of the Kafka version pinned in
# compat-tests/java/pom.xml (`kafka.version`), with its log in DIR/kafka, and prints `listen=HOST:PORT` on stderr
# once the broker serves clients: Metadata lists it and the group coordinator is loaded (see probe_ready). Port 0
# picks a free port; the controller gets another free port. The node is formatted on first start only, so a restart
# on the same DIR keeps the data. SIGTERM (or SIGINT) stops Kafka cleanly and the script exits 0; SIGKILL kills the
# JVM too (see watchdog). Brokers started in parallel do not interfere: ports are picked below the ephemeral range
# and a start that loses its port to someone else is retried on other ports.
#
# The broker's jars come from Maven Central through `mvn -P kafka-broker dependency:build-classpath` on the Java
# suite's pom (cached in ~/.m2; the classpath in compat-tests/java/target/kafka-broker.classpath). The keys of
# sluice's YAML config that have a Kafka equivalent are mapped to it (see map_key); the others are ignored.
# KAFKA_HEAP_OPTS (default -Xmx512m -Xms256m), KAFKA_JVM_PERFORMANCE_OPTS (default -XX:+UseG1GC
# -XX:TieredStopAtLevel=1, quick to start; benchmarks set bin/kafka-run-class.sh's defaults, see sluice-bench and
# perf-tools.sh) and KAFKA_LOG_LEVEL (default warn) tune the JVM. Needs bash, a JDK 17+, Maven and python3 (standard
# library only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/../java/pom.xml"
CLASSPATH_FILE="$HERE/../java/target/kafka-broker.classpath"

usage() {
    echo "usage: $0 --listen HOST:PORT --data-dir DIR [--config FILE.yaml] [--advertise HOST:PORT] [--node-id N]" >&2
    echo "       $0 --prepare" >&2
    exit 2
}

LISTEN=""
DATA_DIR=""
CONFIG=""
ADVERTISE=""
NODE_ID=""
PREPARE=0
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
        --prepare) PREPARE=1; shift ;;
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

# --- the JVM ----------------------------------------------------------------------------------------------------
# Every test starts its own broker, so JVM start-up is most of a reference run. The first broker of a classpath and
# JDK writes the classes it loaded to a class-data-sharing archive when it exits (-XX:ArchiveClassesAtExit); later
# JVMs map them from there, about a second less per start. C1 alone (TieredStopAtLevel=1) is the quicker compiler for
# a JVM that lives seconds. A JVM ignores an archive it cannot use, so a stale one costs only that second.
CDS_ARCHIVE="${CLASSPATH_FILE%.classpath}-$(readlink -f "$(command -v java)" | cksum | cut -d' ' -f1).jsa"
CDS_USE=()
CDS_DUMP=()
if [[ -s "$CDS_ARCHIVE" && "$CDS_ARCHIVE" -nt "$CLASSPATH_FILE" ]]; then
    CDS_USE=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
else
    # Written under a name of its own, then renamed: brokers started in parallel may all be writing one.
    CDS_DUMP=("-XX:ArchiveClassesAtExit=$CDS_ARCHIVE.$$.tmp")
fi
JAVA_OPTS=(${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:TieredStopAtLevel=1}
    "${CDS_USE[@]}"
    -Djava.awt.headless=true
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=${KAFKA_LOG_LEVEL:-warn}"
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.logFile=System.err
    -cp "$KAFKA_CP")

if [[ $PREPARE -eq 1 ]]; then
    if [[ ${#CDS_DUMP[@]} -gt 0 ]]; then
        # One broker started and stopped writes the archive.
        tmp_dir="$(mktemp -d)"
        "$0" --listen 127.0.0.1:0 --data-dir "$tmp_dir" 2> "$tmp_dir.log" &
        pid=$!
        until grep -q 'listen=' "$tmp_dir.log" 2>/dev/null; do
            if ! kill -0 "$pid" 2>/dev/null; then
                cat "$tmp_dir.log" >&2
                echo "run-kafka.sh --prepare: Kafka did not start" >&2
                exit 1
            fi
            sleep 0.2
        done
        kill -TERM "$pid"
        wait "$pid"
        rm -rf "$tmp_dir" "$tmp_dir.log"
    fi
    echo "run-kafka.sh: ready: $(tr ':' '\n' < "$CLASSPATH_FILE" | wc -l) jars, class archive $(basename "$CDS_ARCHIVE")" >&2
    exit 0
fi

# --- configuration -----------------------------------------------------------------------------------------------
# A free port below the kernel's ephemeral range: a port from bind(0) is free only until some client connection
# takes it as its local port, and tests open many connections during the seconds the JVM takes to bind.
free_port() {
    python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(10000, max(low, 10001))
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("run-kafka.sh: no free port found")
PY
}

# sluice YAML key -> Kafka broker properties (the ones tests set; unknown keys are ignored).
map_key() {
    case "$1" in
        node_id) echo node.id ;;
        auto_create_topics) echo auto.create.topics.enable ;;
        num_partitions) echo num.partitions ;;
        max_request_bytes) echo socket.request.max.bytes ;;
        max_message_bytes) echo message.max.bytes ;;
        max_connections) echo max.connections ;;
        max_connections_per_ip) echo max.connections.per.ip ;;
        connections_max_idle_ms) echo connections.max.idle.ms ;;
        queued_max_request_bytes) echo queued.max.request.bytes ;;
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
        # Sluice's one cleaner pass does retention, compaction and producer-state expiry. Kafka has a retention
        # check, a cleaner thread that backs off when it finds nothing to compact, a producer expiry check (every
        # 10 minutes by default) and a 30 s delay before they start: all follow the key.
        log_cleanup_interval_ms) echo log.retention.check.interval.ms log.cleaner.backoff.ms \
            producer.id.expiration.check.interval.ms log.initial.task.delay.ms ;;
        producer_id_expiration_ms) echo producer.id.expiration.ms ;;
        ssl_client_auth) echo ssl.client.auth ;;
        ssl_principal_mapping_rules) echo ssl.principal.mapping.rules ;;
        ssl_enabled_protocols) echo ssl.enabled.protocols ;;
        ssl_cipher_suites) echo ssl.cipher.suites ;;
        connections_max_reauth_ms) echo connections.max.reauth.ms ;;
        allow_everyone_if_no_acl_found) echo allow.everyone.if.no.acl.found ;;
        transaction_max_timeout_ms) echo transaction.max.timeout.ms ;;
        transaction_abort_timed_out_transaction_cleanup_interval_ms)
            echo transaction.abort.timed.out.transaction.cleanup.interval.ms ;;
        # KIP-848 consumer group and KIP-932 share group settings keep Kafka's names, dots for
        # underscores (tests lower heartbeat intervals and record locks, and the minimums with them).
        group_share_*|group_consumer_*) echo "${1//_/.}" ;;
        *) echo "" ;;
    esac
}

declare -A SETTINGS=(
    [node.id]=1
    [auto.create.topics.enable]=true
    [num.partitions]=1
    [group.initial.rebalance.delay.ms]=100
)
# The YAML, flattened by a small reader of the subset sluice's configs use (top-level scalars, and one level of
# block or flow mappings for the user lists): one `key<TAB>value` line per scalar, `parent.key` inside a mapping.
flatten_yaml() {
    python3 - "$1" <<'PY'
import re, sys

def unquote(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
        return v.replace('\\"', '"').replace("\\\\", "\\")
    return v

def strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line

def split_flow(body):
    parts, depth, quote, cur = [], 0, None, ""
    for c in body:
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == ",":
            parts.append(cur); cur = ""; continue
        cur += c
    if cur.strip():
        parts.append(cur)
    return parts

parent = None
for raw in open(sys.argv[1]):
    line = strip_comment(raw.rstrip("\n"))
    if not line.strip():
        continue
    m = re.match(r"^(\s*)([A-Za-z0-9_.@-]+|\"[^\"]*\"|'[^']*')\s*:\s*(.*?)\s*$", line)
    if not m:
        continue
    indent, key, value = m.group(1), unquote(m.group(2)), m.group(3)
    if indent and parent:
        print(f"{parent}.{key}\t{unquote(value)}")
        continue
    parent = None
    if value == "":
        parent = key
    elif value.startswith("{") and value.endswith("}"):
        for item in split_flow(value[1:-1]):
            k, _, v = item.partition(":")
            print(f"{key}.{unquote(k)}\t{unquote(v)}")
    else:
        print(f"{key}\t{unquote(value)}")
PY
}

# Security (#17): listeners, TLS, SASL users and the authorizer, from sluice's keys (see write_properties).
LISTENERS_CFG=""
ADV_LISTENERS_CFG=""
PROTOCOL_MAP_CFG=""
SASL_MECHANISMS="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
AUTHORIZER=0
SUPER_USERS=""
declare -A PLAIN_USERS=()
declare -A SCRAM_USERS=()
if [[ -n "$CONFIG" ]]; then
    while IFS=$'\t' read -r key value; do
        case "$key" in
            # As with sluice, the command line wins over the file.
            listen) [[ -n "$LISTEN" ]] || LISTEN="$value" ;;
            data_dir) [[ -n "$DATA_DIR" ]] || DATA_DIR="$value" ;;
            advertise) [[ -n "$ADVERTISE" ]] || ADVERTISE="$value" ;;
            listeners) LISTENERS_CFG="$value" ;;
            advertised_listeners) ADV_LISTENERS_CFG="$value" ;;
            listener_security_protocol_map) PROTOCOL_MAP_CFG="$value" ;;
            sasl_enabled_mechanisms) SASL_MECHANISMS="$value" ;;
            sasl_plain_users.*) PLAIN_USERS[${key#*.}]="$value" ;;
            sasl_scram_users.*) SCRAM_USERS[${key#*.}]="$value" ;;
            authorizer_enabled) [[ "$value" == true ]] && AUTHORIZER=1 ;;
            super_users) SUPER_USERS="$value" ;;
            ssl_keystore_location)
                SETTINGS[ssl.keystore.type]=PEM
                SETTINGS[ssl.keystore.location]="$(readlink -f "$value")" ;;
            ssl_truststore_location)
                SETTINGS[ssl.truststore.type]=PEM
                SETTINGS[ssl.truststore.location]="$(readlink -f "$value")" ;;
            *)
                for prop in $(map_key "$key"); do
                    SETTINGS[$prop]="$value"
                done
                ;;
        esac
    done < <(flatten_yaml "$CONFIG")
fi
[[ -n "$NODE_ID" ]] && SETTINGS[node.id]="$NODE_ID"
NODE="${SETTINGS[node.id]}"

[[ -n "$LISTEN" ]] || LISTEN="[::]:9092"
HOST="${LISTEN%:*}"
PORT="${LISTEN##*:}"
HOST="${HOST#[}"; HOST="${HOST%]}"
[[ -z "$HOST" || "$HOST" == "::" || "$HOST" == "0.0.0.0" ]] && BIND_HOST="" || BIND_HOST="$HOST"
PICK_PORT=0
[[ "$PORT" == "0" ]] && PICK_PORT=1
ADV_HOST="${BIND_HOST:-localhost}"

[[ -n "$DATA_DIR" ]] || DATA_DIR="./data"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
LOG_DIR="$DATA_DIR/kafka"
PROPS="$DATA_DIR/server.properties"

# With named listeners or an authorizer, Kafka gets a listener of its own for inter-broker traffic and the
# readiness probe (RUNKAFKA). With an authorizer, it and the controller listener authenticate with SASL PLAIN as
# User:runkafka, a super user: the broker's own requests (registration, transaction markers) need CLUSTER_ACTION,
# and User:ANONYMOUS must stay an ordinary principal that tests can grant or deny.
INTERNAL_USER=runkafka
INTERNAL_PASSWORD=runkafka-secret
INTERNAL_JAAS="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$INTERNAL_USER\" password=\"$INTERNAL_PASSWORD\" user_$INTERNAL_USER=\"$INTERNAL_PASSWORD\";"
OWN_INTERNAL=0
[[ -n "$LISTENERS_CFG" || $AUTHORIZER -eq 1 ]] && OWN_INTERNAL=1
INTERNAL_PROTOCOL=PLAINTEXT
[[ $AUTHORIZER -eq 1 ]] && INTERNAL_PROTOCOL=SASL_PLAINTEXT

# The listener lines for this attempt's ports: KAFKA_LISTENERS, KAFKA_ADVERTISED, KAFKA_PROTOCOLS, NAMED_SHOWN (the
# start-up line's listeners=) and PROBE_PORT. Port 0 picks a free port; an advertised port 0 is the picked port.
plan_listeners() {
    local entry name rest host port adv adv_entry
    local -A picked=()
    KAFKA_LISTENERS="CONTROLLER://127.0.0.1:$CONTROLLER_PORT"
    KAFKA_ADVERTISED=""
    KAFKA_PROTOCOLS="CONTROLLER:$INTERNAL_PROTOCOL"
    NAMED_SHOWN=""
    FIRST_SHOWN=""
    if [[ -z "$LISTENERS_CFG" ]]; then
        KAFKA_LISTENERS+=",PLAINTEXT://$BIND_HOST:$PORT"
        KAFKA_ADVERTISED="PLAINTEXT://$ADVERTISED"
        KAFKA_PROTOCOLS+=",PLAINTEXT:PLAINTEXT"
        NAMED_SHOWN="PLAINTEXT://${BIND_HOST:-0.0.0.0}:$PORT"
    else
        KAFKA_PROTOCOLS+=",${PROTOCOL_MAP_CFG:-PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL}"
        IFS=',' read -ra entries <<< "$LISTENERS_CFG"
        for entry in "${entries[@]}"; do
            entry="${entry// /}"
            [[ -n "$entry" ]] || continue
            name="${entry%%://*}"; name="${name^^}"
            rest="${entry#*://}"
            host="${rest%:*}"; port="${rest##*:}"
            [[ "$port" == 0 ]] && port="$(free_port)"
            picked[$name]=$port
            KAFKA_LISTENERS+=",$name://$host:$port"
            adv=""
            IFS=',' read -ra adv_entries <<< "$ADV_LISTENERS_CFG"
            for adv_entry in "${adv_entries[@]}"; do
                adv_entry="${adv_entry// /}"
                if [[ "${adv_entry%%://*}" == "$name" || "${adv_entry%%://*}" == "${name,,}" ]]; then
                    adv="${adv_entry#*://}"
                    [[ "${adv##*:}" == 0 ]] && adv="${adv%:*}:$port"
                fi
            done
            host="${host#[}"; host="${host%]}"
            [[ -n "$adv" ]] || adv="$([[ -z "$host" || "$host" == 0.0.0.0 || "$host" == :: ]] && echo localhost || echo "$host"):$port"
            KAFKA_ADVERTISED+="${KAFKA_ADVERTISED:+,}$name://$adv"
            [[ -z "$host" || "$host" == :: ]] && host=0.0.0.0
            [[ "$host" == *:* ]] && host="[$host]"
            NAMED_SHOWN+="${NAMED_SHOWN:+,}$name://$host:$port"
            [[ -n "$FIRST_SHOWN" ]] || FIRST_SHOWN="$host:$port"
        done
    fi
    PROBE_PORT=$PORT
    if [[ $OWN_INTERNAL -eq 1 ]]; then
        INTERNAL_PORT="$(free_port)"
        KAFKA_LISTENERS+=",RUNKAFKA://127.0.0.1:$INTERNAL_PORT"
        KAFKA_ADVERTISED+=",RUNKAFKA://127.0.0.1:$INTERNAL_PORT"
        KAFKA_PROTOCOLS+=",RUNKAFKA:$INTERNAL_PROTOCOL"
        PROBE_PORT=$INTERNAL_PORT
    fi
    [[ -n "$FIRST_SHOWN" ]] || FIRST_SHOWN="${BIND_HOST:-0.0.0.0}:$PORT"
}

# SASL on every SASL listener: the enabled mechanisms, PLAIN's users, SCRAM's and OAUTHBEARER's login modules (their
# users are in the metadata: see --add-scram; OAUTHBEARER's default server handler validates unsecured tokens).
sasl_properties() {
    local name protocol lname mech users=""
    for user in "${!PLAIN_USERS[@]}"; do
        users+=" user_$user=\"${PLAIN_USERS[$user]}\""
    done
    echo "sasl.enabled.mechanisms=$SASL_MECHANISMS"
    IFS=',' read -ra maps <<< "$KAFKA_PROTOCOLS"
    for entry in "${maps[@]}"; do
        name="${entry%%:*}"; protocol="${entry#*:}"
        [[ "$protocol" == SASL_* ]] || continue
        [[ "$name" == RUNKAFKA || "$name" == CONTROLLER ]] && continue
        [[ ",$KAFKA_LISTENERS" == *",$name://"* ]] || continue
        lname="${name,,}"
        echo "listener.name.$lname.sasl.enabled.mechanisms=$SASL_MECHANISMS"
        IFS=',' read -ra mechs <<< "$SASL_MECHANISMS"
        for mech in "${mechs[@]}"; do
            case "${mech^^}" in
                PLAIN) echo "listener.name.$lname.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$users;" ;;
                SCRAM-SHA-256|SCRAM-SHA-512)
                    echo "listener.name.$lname.${mech,,}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" ;;
                OAUTHBEARER)
                    echo "listener.name.$lname.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;" ;;
            esac
        done
    done
    if [[ "$INTERNAL_PROTOCOL" == SASL_PLAINTEXT ]]; then
        echo "sasl.mechanism.inter.broker.protocol=PLAIN"
        echo "sasl.mechanism.controller.protocol=PLAIN"
        for lname in runkafka controller; do
            echo "listener.name.$lname.sasl.enabled.mechanisms=PLAIN"
            echo "listener.name.$lname.plain.sasl.jaas.config=$INTERNAL_JAAS"
        done
    fi
}

write_properties() {
    plan_listeners
    {
        echo "process.roles=broker,controller"
        echo "controller.quorum.voters=$NODE@127.0.0.1:$CONTROLLER_PORT"
        echo "listeners=$KAFKA_LISTENERS"
        echo "advertised.listeners=$KAFKA_ADVERTISED"
        echo "listener.security.protocol.map=$KAFKA_PROTOCOLS"
        echo "controller.listener.names=CONTROLLER"
        if [[ $OWN_INTERNAL -eq 1 ]]; then
            echo "inter.broker.listener.name=RUNKAFKA"
        else
            echo "inter.broker.listener.name=PLAINTEXT"
        fi
        sasl_properties
        if [[ $AUTHORIZER -eq 1 ]]; then
            echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
            echo "super.users=User:$INTERNAL_USER${SUPER_USERS:+;$SUPER_USERS}"
        fi
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
}

# --- readiness ---------------------------------------------------------------------------------------------------
# Kafka accepts connections before it can serve them: until the broker has registered with its controller,
# Metadata lists no broker, and the group coordinator exists only once __consumer_offsets is created (by the first
# FindCoordinator) and loaded. Sluice serves all of that from its first accepted connection, so `listen=` is
# printed only when Metadata lists this broker, FindCoordinator finds a group coordinator and DescribeGroups
# answers without COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR. One attempt per call (exit 0 when ready).
probe_ready() {
    local sasl=""
    [[ "$INTERNAL_PROTOCOL" == SASL_PLAINTEXT && $OWN_INTERNAL -eq 1 ]] && sasl="$INTERNAL_USER:$INTERNAL_PASSWORD"
    python3 - "$1" "$2" "$sasl" <<'PY' >/dev/null 2>&1
import socket, struct, sys

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data

def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b

def request(sock, api_key, version, body):
    message = struct.pack(">hhi", api_key, version, 1) + string("run-kafka.sh") + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)[4:]  # without the correlation id

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as sock:
    if sys.argv[3]:
        # SaslHandshake v1 for PLAIN, then SaslAuthenticate v0 with "\0user\0password": error codes first.
        user, _, password = sys.argv[3].partition(":")
        if struct.unpack_from(">h", request(sock, 17, 1, string("PLAIN")), 0)[0] != 0:
            sys.exit("SASL handshake refused")
        token = b"\0" + user.encode() + b"\0" + password.encode()
        if struct.unpack_from(">h", request(sock, 36, 0, struct.pack(">i", len(token)) + token), 0)[0] != 0:
            sys.exit("SASL authentication failed")
    # Metadata v1 for no topics: brokers [node_id, host, port, rack], then controller_id.
    response = request(sock, 3, 1, struct.pack(">i", 0))
    if struct.unpack_from(">i", response, 0)[0] < 1:
        sys.exit("no broker registered yet")
    # FindCoordinator v1 for a group: throttle_time_ms, then error_code.
    group = "run-kafka-ready"
    response = request(sock, 10, 1, string(group) + struct.pack(">b", 0))
    if struct.unpack_from(">h", response, 4)[0] != 0:
        sys.exit("no group coordinator yet")
    # DescribeGroups v0: groups [error_code, ...]; 0 (a Dead group) once the offsets partition is loaded.
    response = request(sock, 15, 0, struct.pack(">i", 1) + string(group))
    if struct.unpack_from(">ih", response, 0) != (1, 0):
        sys.exit("group coordinator still loading")
PY
}

# --- start, retrying with other ports if one was taken meanwhile -------------------------------------------------
KAFKA_PID=""
STOPPING=0
stop() {
    STOPPING=1
    [[ -n "$KAFKA_PID" ]] && kill -TERM "$KAFKA_PID" 2>/dev/null
    true
}
trap stop TERM INT

# Nothing can trap SIGKILL: when a test kills this script with -9 (or its harness drops a broker that way), a
# watchdog SIGKILLs the JVM too, so no orphaned Kafka keeps the data directory locked or the caller's stderr
# pipe open (a harness that drains stderr until EOF would wait forever). SIGKILL keeps `kill -9` meaning "no
# clean shutdown" for the crash tests.
watchdog() {
    local script=$$ jvm=$1
    trap '' TERM INT
    while kill -0 "$script" 2>/dev/null && kill -0 "$jvm" 2>/dev/null; do
        sleep 0.1
    done
    kill -KILL "$jvm" 2>/dev/null || true
}

READY_HOST="${BIND_HOST:-127.0.0.1}"
for attempt in 1 2 3; do
    [[ $PICK_PORT -eq 1 ]] && PORT="$(free_port)"
    CONTROLLER_PORT="$(free_port)"
    ADVERTISED="${ADVERTISE:-$ADV_HOST:$PORT}"
    write_properties

    if [[ ! -f "$LOG_DIR/meta.properties" ]]; then
        # Kafka's own cluster ids never start with '-' (the tool would read it as an option); nor may ours.
        CLUSTER_ID="-"
        while [[ "$CLUSTER_ID" == -* ]]; do
            CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
        done
        SCRAM_ARGS=()
        for user in "${!SCRAM_USERS[@]}"; do
            for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
                SCRAM_ARGS+=(--add-scram "$mech=[name=$user,password=${SCRAM_USERS[$user]}]")
            done
        done
        java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" --config "$PROPS" \
            --ignore-formatted "${SCRAM_ARGS[@]}" >&2
    fi

    java "${JAVA_OPTS[@]}" "${CDS_DUMP[@]}" kafka.Kafka "$PROPS" >&2 &
    KAFKA_PID=$!
    watchdog "$KAFKA_PID" </dev/null >/dev/null 2>&1 &
    [[ $STOPPING -eq 1 ]] && stop

    deadline=$((SECONDS + 120))
    PROBE_HOST="$READY_HOST"
    [[ $OWN_INTERNAL -eq 1 ]] && PROBE_HOST=127.0.0.1
    until probe_ready "$PROBE_HOST" "$PROBE_PORT"; do
        if ! kill -0 "$KAFKA_PID" 2>/dev/null || [[ $STOPPING -eq 1 ]]; then
            rc=0
            wait "$KAFKA_PID" || rc=$?
            [[ $STOPPING -eq 1 ]] && exit 0
            # Ports we picked may have been taken since (another test's broker): try others.
            if [[ $attempt -lt 3 ]]; then
                echo "run-kafka.sh: Kafka exited with code $rc before it was ready; starting again on other ports" >&2
                continue 2
            fi
            echo "run-kafka.sh: Kafka exited with code $rc before it was ready" >&2
            exit 1
        fi
        if [[ $SECONDS -ge $deadline ]]; then
            echo "run-kafka.sh: Kafka was not ready on $PROBE_HOST:$PROBE_PORT within 120s" >&2
            stop
            wait "$KAFKA_PID" || true
            exit 1
        fi
        sleep 0.2
    done
    break
done

LISTEN_SHOWN="$FIRST_SHOWN"
[[ -z "$LISTENERS_CFG" && "$LISTEN_SHOWN" == *:*:* ]] && LISTEN_SHOWN="[${BIND_HOST}]:$PORT"
echo "run-kafka.sh: Apache Kafka started listen=$LISTEN_SHOWN advertise=${KAFKA_ADVERTISED%%,RUNKAFKA*} listeners=$NAMED_SHOWN node_id=$NODE data_dir=$DATA_DIR" >&2

# `wait` returns early when a trapped signal arrives: keep waiting until the JVM is gone.
rc=0
while kill -0 "$KAFKA_PID" 2>/dev/null; do
    wait "$KAFKA_PID" && rc=0 || rc=$?
done
if [[ ${#CDS_DUMP[@]} -gt 0 ]]; then
    if [[ -s "$CDS_ARCHIVE.$$.tmp" ]]; then
        mv -f "$CDS_ARCHIVE.$$.tmp" "$CDS_ARCHIVE"
    fi
    rm -f "$CDS_ARCHIVE.$$.tmp"
fi
if [[ $STOPPING -eq 1 ]]; then
    exit 0
fi
echo "run-kafka.sh: Kafka exited with code $rc" >&2
exit "$rc"
