#!/usr/bin/env bash
# Soak run, outside CI: drives the example chat server with REQUESTS
# requests (default 1,000,000) from loadgen and samples its resident memory
# and goroutine count from /metrics every INTERVAL seconds (default 10).
# At the end it prints the samples and the server's own count of written
# and lost records. Everything runs on loopback.
#
#   scripts/soak.sh                  # a million requests
#   REQUESTS=100000 scripts/soak.sh  # a shorter run
#   KEYS=200000 scripts/soak.sh      # API keys spread over (default 2,000)
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${REQUESTS:-1000000}
interval=${INTERVAL:-10}
clients=${CLIENTS:-32}
keys=${KEYS:-2000}
work=$(mktemp -d "${TMPDIR:-/tmp}/aimeter-soak.XXXXXX")
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd examples && go build -o "$work/chatserver" ./chatserver && go build -o "$work/loadgen" ./loadgen)

# A free loopback port for the server.
while true; do
	port=$((20000 + RANDOM % 40000))
	(: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
url="http://127.0.0.1:$port"

AIMETER_SIM_LATENCY=0 OPENAI_BASE_URL= OPENAI_API_KEY= \
	"$work/chatserver" -addr "127.0.0.1:$port" -alert-error-rate 0 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 50); do
	curl -fsS "$url/metrics" >/dev/null 2>&1 && break
	sleep 0.2
done

sample() { # prints: seconds rss_mib goroutines
	local m
	m=$(curl -fsS "$url/metrics")
	awk -v t="$1" '
		/^process_resident_memory_bytes / { rss = $2 / 1048576 }
		/^go_goroutines / { g = $2 }
		END { printf "%6d s  rss %7.1f MiB  goroutines %5d\n", t, rss, g }' <<<"$m"
}

start=$(date +%s)
"$work/loadgen" -url "$url" -c "$clients" -n "$requests" -mix chat=70,stream=20,agent=10 \
	-keys "$keys" -progress off >"$work/loadgen.out" 2>&1 &
loadgen_pid=$!
while kill -0 "$loadgen_pid" 2>/dev/null; do
	sample $(( $(date +%s) - start ))
	sleep "$interval"
done
wait "$loadgen_pid" || true
sample $(( $(date +%s) - start ))

echo
cat "$work/loadgen.out"
kill -INT "$server_pid"
wait "$server_pid" || true
server_pid=""
echo
grep -E 'chatserver stopped' "$work/server.log" || tail -5 "$work/server.log"
