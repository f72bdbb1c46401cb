#!/usr/bin/env bash
# Time from a request in an app to its point on the dashboard: the demo's Rack app under Puma
# with the gem from lib/ (run `rake compile` first), the server on SQLite, and
# script/demo_load.rb timing its first request until the dashboard lists its action.
#   bash server/bench/request-to-dashboard.sh [TRANSMISSION_INTERVAL_SECONDS (30)]
set -euo pipefail
cd "$(dirname "$0")/../.."
interval=${1:-30}
cargo build --release -q -p appsignal-server
bin=target/release/appsignal-server
D=$(mktemp -d /tmp/asbench.XXXX) WD=$(mktemp -d /tmp/asbenchwd.XXXX)
server="" app=""
cleanup() {
  # The app first, and wait for it: while it shuts down the gem would start a new agent.
  if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true; fi
  if [ -f "$WD/agent.lock" ]; then
    kill "$(sed -n 's/^pid=//p' "$WD/agent.lock")" 2>/dev/null || true
    sleep 1
  fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$D" "$WD"
}
trap cleanup EXIT
key=$($bin app create bench-app --data "$D" | tail -n 1)
$bin serve --listen 127.0.0.1:8319 --data "$D" >"$D/server.log" 2>&1 & server=$!
(
  cd spec/fixtures/rack_app
  APPSIGNAL_PUSH_API_KEY=$key APPSIGNAL_APP_NAME=bench-app APPSIGNAL_APP_ENV=bench \
  APPSIGNAL_PUSH_API_ENDPOINT=http://127.0.0.1:8319 APPSIGNAL_WORKING_DIRECTORY_PATH="$WD" \
  APPSIGNAL_LOG_PATH="$WD" APPSIGNAL_TRANSMISSION_INTERVAL=$interval RUBYLIB="$PWD/../../../lib" \
    exec puma -b tcp://127.0.0.1:8320 -t 2:4 config.ru
) >"$D/app.log" 2>&1 & app=$!
ruby -rsocket -e '100.times { begin; TCPSocket.new("127.0.0.1", 8320).close; exit 0; rescue SystemCallError; sleep 0.2; end }; abort "no app on 8320"'
ruby script/demo_load.rb http://127.0.0.1:8320 $((interval + 15)) http://127.0.0.1:8319/apps/1
