#!/usr/bin/env bash
# Throughput in scale-out mode: NATS JetStream queue, PostgreSQL store, one API process and
# PROCESSORS (2) processor processes. Uses (and cleans up) its own stream and schema.
#   bash server/bench/measure-nats-postgres.sh [N]   (NATS at 127.0.0.1:4222, PostgreSQL
#   at 127.0.0.1:5432 user postgres db test; override with NATS_URL / PG_URL)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000}
PROCESSORS=${PROCESSORS:-2}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
cargo build --release -q -p appsignal-server --bins --examples
bin=target/release/appsignal-server load=target/release/examples/push_load
stream=BENCH$(date +%s) schema=bench_$(date +%s)
STORE="$PG_URL?schema=$schema"
D=$(mktemp -d /tmp/asbench.XXXX)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null || true
  # JetStream API: delete the stream (fire and forget over the NATS protocol).
  python3 - "$NATS_URL" "$stream" <<'PY' || true
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); s = socket.create_connection((u.hostname, u.port or 4222)); s.recv(4096)
s.sendall(f"CONNECT {{}}\r\nPUB $JS.API.STREAM.DELETE.{sys.argv[2]} _INBOX.bench 0\r\n\r\nPING\r\n".encode()); time.sleep(0.3)
PY
  rm -rf "$D"
}
trap cleanup EXIT
args=(--queue "$NATS_URL" --nats-stream "$stream" --store "$STORE" --data "$D")
KEY=$($bin app create load --store "$STORE" --data "$D" | tail -n 1)
$bin serve --role api "${args[@]}" --listen 127.0.0.1:8197 >"$D/api.log" 2>&1 & pids+=($!)
sleep 1.5
echo "== Push API alone (JetStream queue)"
$load http://127.0.0.1:8197 "$KEY" "$STORE" "$D" "$N" 16 push
echo "== $PROCESSORS processor(s) draining $N queued payloads (PostgreSQL store)"
$load http://127.0.0.1:8197 "$KEY" "$STORE" "$D" "$N" 16 drain & drain=$!
sleep 1
for i in $(seq "$PROCESSORS"); do
  $bin process "${args[@]}" >"$D/processor-$i.log" 2>&1 & pids+=($!)
done
wait $drain
psql "$PG_URL" -Atc "SELECT 'payloads per processor: ' || string_agg(n::text, ' + ') FROM (SELECT COUNT(*) AS n FROM $schema.processed_payloads GROUP BY processor) c" 2>/dev/null || true
