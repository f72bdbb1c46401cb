#!/usr/bin/env bash
# Throughput on the embedded store: the Push API alone (`--role api`), one processor draining
# what it queued, then everything in one process. N payloads of 1,000 transactions each.
#   bash server/bench/measure-sqlite.sh [N]      (from the repository root; builds release)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5000}
cargo build --release -q -p appsignal-server --bins --examples
bin=target/release/appsignal-server load=target/release/examples/push_load
pids=() dirs=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "${dirs[@]}"' EXIT
D=$(mktemp -d /tmp/asbench.XXXX); dirs+=("$D")
KEY=$($bin app create load --data "$D" | tail -n 1)
$bin serve --role api --data "$D" --listen 127.0.0.1:8199 >"$D/api.log" 2>&1 & pids+=($!)
sleep 1
echo "== Push API alone (SQLite queue)"
$load http://127.0.0.1:8199 "$KEY" sqlite "$D" "$N" 16 push
echo "== one processor draining $N queued payloads (SQLite store)"
$load http://127.0.0.1:8199 "$KEY" sqlite "$D" "$N" 16 drain & drain=$!
sleep 1
$bin process --data "$D" >"$D/processor.log" 2>&1 & pids+=($!)
wait $drain
D2=$(mktemp -d /tmp/asbench.XXXX); dirs+=("$D2")
KEY=$($bin app create load --data "$D2" | tail -n 1)
$bin --data "$D2" --listen 127.0.0.1:8198 >"$D2/server.log" 2>&1 & pids+=($!)
sleep 1
echo "== one process doing both"
$load http://127.0.0.1:8198 "$KEY" sqlite "$D2" "$N" 16 both
