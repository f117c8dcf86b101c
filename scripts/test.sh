#!/usr/bin/env bash
# Runs every check of every module of the workspace: gofmt, go vet and
# go test -race. Run it from anywhere inside the repository.
set -euo pipefail

cd "$(dirname "$0")/.."

# The modules are those go.work lists, or those named on the command line,
# as in scripts/test.sh ./examples ./usage/pgstore.
if [ "$#" -gt 0 ]; then
	modules=("$@")
else
	mapfile -t modules < <(go work edit -json | sed -n 's/^.*"DiskPath": "\(.*\)".*$/\1/p' | sort)
fi

# PostgreSQL for the tests of usage/pgstore and examples/chatserver: unless
# AIMETER_TEST_POSTGRES_DSN already names a server, a throwaway one runs on a
# free loopback port in a temporary directory, which is removed on exit.
# For that throwaway server, AIMETER_TEST_POSTGRES_CTL names a script that
# stops, starts or checks it (`stop`, `start`, `status`), so that tests can
# take the database away and bring it back.
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
		# A test may have left the server stopped, so pg_ctl may fail here.
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

# write_postgres_ctl writes the script that AIMETER_TEST_POSTGRES_CTL names.
# `stop` shuts the server down cleanly and `start` starts it again with the
# same data directory, port and options, each waiting until it is done.
# `start` on a running server and `stop` on a stopped one do nothing, and
# `status` exits 0 when the server runs and 3 when it does not. The stop is
# pg_ctl -m fast, which writes every committed transaction to disk: with
# synchronous_commit=off, an immediate stop could lose commits that clients
# already saw succeed.
write_postgres_ctl() {
	local ctl="$pg_dir/pgctl" options="$1" log="$pg_dir/server.log"
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		as=(runuser -u postgres --)
	fi
	local pg_ctl=("${as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data")
	{
		echo '#!/usr/bin/env bash'
		echo '# Stops, starts or checks the throwaway PostgreSQL server of scripts/test.sh.'
		echo 'set -euo pipefail'
		echo 'case "${1:-}" in'
		echo "status) exec ${pg_ctl[*]@Q} status >/dev/null ;;"
		echo "stop)"
		echo "	if ! ${pg_ctl[*]@Q} status >/dev/null; then exit 0; fi"
		echo "	exec ${pg_ctl[*]@Q} -m fast -w -t 60 stop ;;"
		echo "start)"
		echo "	if ${pg_ctl[*]@Q} status >/dev/null; then exit 0; fi"
		echo "	exec ${pg_ctl[*]@Q} -l ${log@Q} -w -t 60 -o ${options@Q} start ;;"
		echo '*)'
		echo '	echo "usage: $0 stop|start|status" >&2'
		echo '	exit 2 ;;'
		echo 'esac'
	} >"$ctl"
	chmod 755 "$ctl"
	export AIMETER_TEST_POSTGRES_CTL="$ctl"
}

start_postgres() {
	if [ -n "${AIMETER_TEST_POSTGRES_DSN:-}" ]; then
		echo "PostgreSQL tests use the server in AIMETER_TEST_POSTGRES_DSN"
		return
	fi
	# A control script only makes sense for the server this script starts.
	unset AIMETER_TEST_POSTGRES_CTL
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
	local port options
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$pg_dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		if as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 -o "$options" start >/dev/null; then
			export AIMETER_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			write_postgres_ctl "$options"
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
if [ "$#" -eq 0 ]; then
	echo "== . (without -race)"
	go test -count=1 -run 'HeapStaysBounded' ./usage/ || status=1
fi

if [ "$status" -ne 0 ]; then
	echo "FAIL: some checks failed"
fi
exit "$status"
