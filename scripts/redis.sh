# Functions that start and stop a throwaway Redis server on loopback for the
# tests. Source this file, then:
#
#	start_redis          # exports AIMETER_TEST_REDIS_ADDR=127.0.0.1:PORT
#	trap stop_redis EXIT
#
# The server keeps nothing on disk (no RDB snapshots, no AOF) and listens on
# 127.0.0.1 only, on a free port between 20000 and 59999. start_redis returns
# 1, with the reason on stderr, when redis-server is missing, or when it does
# not reply to PING within 10 seconds on any of 5 ports.

# aimeter_redis_pid and aimeter_redis_log belong to these functions.
aimeter_redis_pid=""
aimeter_redis_log=""

# redis_pings reports whether the server at 127.0.0.1:$1 replies PONG to
# PING, using bash's /dev/tcp so that redis-cli is not needed.
redis_pings() {
	local port=$1 reply=""
	if ! { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
		return 1
	fi
	printf 'PING\r\n' >&3
	IFS= read -r -t 1 reply <&3 || true
	exec 3<&- 3>&-
	[[ "$reply" == "+PONG"* ]]
}

# port_in_use reports whether something accepts connections on
# 127.0.0.1:$1.
port_in_use() {
	if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
		exec 3<&- 3>&-
		return 0
	fi
	return 1
}

start_redis() {
	if ! command -v redis-server >/dev/null; then
		echo "start_redis: redis-server not found; install it (Debian: apt-get install -y redis-server)" >&2
		return 1
	fi
	if [ -n "$aimeter_redis_pid" ]; then
		echo "start_redis: a server started by start_redis is already running (pid $aimeter_redis_pid)" >&2
		return 1
	fi

	aimeter_redis_log=$(mktemp -t aimeter-redis.XXXXXX)
	local attempt port
	for attempt in 1 2 3 4 5; do
		# Another process can take the port between the check and the
		# start, so a server that exits at once is retried on another.
		port=$((20000 + RANDOM % 40000))
		if port_in_use "$port"; then
			continue
		fi
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
			>"$aimeter_redis_log" 2>&1 &
		aimeter_redis_pid=$!

		local waited
		for waited in $(seq 100); do
			if ! kill -0 "$aimeter_redis_pid" 2>/dev/null; then
				break
			fi
			if redis_pings "$port"; then
				export AIMETER_TEST_REDIS_ADDR="127.0.0.1:$port"
				echo "start_redis: redis-server (pid $aimeter_redis_pid) listening on $AIMETER_TEST_REDIS_ADDR"
				return 0
			fi
			sleep 0.1
		done
		kill "$aimeter_redis_pid" 2>/dev/null || true
		wait "$aimeter_redis_pid" 2>/dev/null || true
		aimeter_redis_pid=""
	done

	echo "start_redis: redis-server did not reply to PING within 10 seconds on any of 5 ports; its last output:" >&2
	cat "$aimeter_redis_log" >&2
	rm -f "$aimeter_redis_log"
	aimeter_redis_log=""
	return 1
}

stop_redis() {
	if [ -n "$aimeter_redis_pid" ]; then
		kill "$aimeter_redis_pid" 2>/dev/null || true
		wait "$aimeter_redis_pid" 2>/dev/null || true
		aimeter_redis_pid=""
	fi
	unset AIMETER_TEST_REDIS_ADDR
	if [ -n "$aimeter_redis_log" ]; then
		rm -f "$aimeter_redis_log"
		aimeter_redis_log=""
	fi
}
