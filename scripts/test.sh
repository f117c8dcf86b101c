#!/usr/bin/env bash
# Runs every check of every module of the workspace: gofmt, go vet and
# go test -race. Run it from anywhere inside the repository.
set -euo pipefail

cd "$(dirname "$0")/.."

# The modules are those go.work lists.
mapfile -t modules < <(go work edit -json | sed -n 's/^.*"DiskPath": "\(.*\)".*$/\1/p' | sort)

# PostgreSQL for the tests of usage/pgstore and examples/chatserver: unless
# AIMETER_TEST_POSTGRES_DSN already names a server, a throwaway one runs on a
# free loopback port in a temporary directory, which is removed on exit.
pg_bin=""
pg_dir=""

# as_postgres runs a command as the postgres user when this script runs as
# root, because PostgreSQL refuses to run as root.
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

stop_postgres() {
	if [ -n "$pg_dir" ]; then
		as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$pg_dir"
		pg_dir=""
	fi
}

# free_port prints a loopback port that nothing listens on now.
free_port() {
	local port
	while true; do
		port=$((20000 + RANDOM % 40000))
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

start_postgres() {
	if [ -n "${AIMETER_TEST_POSTGRES_DSN:-}" ]; then
		echo "PostgreSQL tests use the server in AIMETER_TEST_POSTGRES_DSN"
		return
	fi
	local initdb
	initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
	if [ -z "$initdb" ]; then
		echo "PostgreSQL server binaries not found under /usr/lib/postgresql: the PostgreSQL tests will skip."
		echo "Install the postgresql package to run them. .ci/run installs it, because under CI=true they fail instead of skipping."
		return
	fi
	pg_bin=$(dirname "$initdb")
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "No postgres user to run PostgreSQL as: the PostgreSQL tests will skip, or fail under CI=true."
		return
	fi

	pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/aimeter-pg.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$pg_dir"
	fi
	if ! as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$pg_dir/initdb.log" 2>&1; then
		cat "$pg_dir/initdb.log"
		echo "initdb failed: the PostgreSQL tests will skip, or fail under CI=true."
		stop_postgres
		return
	fi

	# Another program may take the port between the check and the start,
	# so a failed start tries another port.
	local port
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$pg_dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null; then
			export AIMETER_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port"
			return
		fi
	done
	cat "$pg_dir/server.log"
	echo "PostgreSQL did not start: the PostgreSQL tests will skip, or fail under CI=true."
	stop_postgres
}

# Redis for the tests of ratelimit/redislimit: a throwaway server on a free
# loopback port, unless AIMETER_TEST_REDIS_ADDR already names one.
. scripts/redis.sh

stop_services() {
	stop_postgres
	stop_redis
}
trap stop_services EXIT
trap 'exit 130' INT TERM
start_postgres
if [ -n "${AIMETER_TEST_REDIS_ADDR:-}" ]; then
	echo "Redis tests use the server at AIMETER_TEST_REDIS_ADDR"
elif start_redis; then
	echo "Redis for the tests on $AIMETER_TEST_REDIS_ADDR"
else
	echo "Redis not started: the Redis tests will skip, or fail under CI=true."
fi

# Chromium for the dashboard's browser test.
. scripts/chromium.sh
if chromium=$(find_chromium); then
	export AIMETER_CHROMIUM="$chromium"
	echo "Chromium for the browser test: $chromium"
else
	echo "Chromium not found: the dashboard browser test will skip, or fail under CI=true."
fi

status=0

unformatted=$(gofmt -l $(git ls-files -co --exclude-standard '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	status=1
fi

for m in "${modules[@]}"; do
	echo "== $m"
	(cd "$m" && go vet ./...) || status=1
	(cd "$m" && go test -race -count=1 ./...) || status=1
done

# Tests built without the race detector, which would multiply their time
# and memory: the heap bound under ten million tracked calls.
echo "== . (without -race)"
go test -count=1 -run 'HeapStaysBounded' ./usage/ || status=1

if [ "$status" -ne 0 ]; then
	echo "FAIL: some checks failed"
fi
exit "$status"
