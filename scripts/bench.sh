#!/usr/bin/env bash
# Reruns the comparison benchmarks of BENCHMARKS.md and prints their
# results. Run it on an otherwise idle machine; each family runs -count
# times (COUNT, default 5) so benchstat or a median can be taken.
#
#   scripts/bench.sh            every family
#   scripts/bench.sh limiter    one family: limiter, track, exporters,
#                               errmon, overhead, redis, stores, snapshot,
#                               budgets
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-5}
only=${1:-all}

run() { # FAMILY DIR PACKAGES PATTERN [extra go test flags...]
	local family=$1 dir=$2 pkgs=$3 pattern=$4
	shift 4
	if [ "$only" != all ] && [ "$only" != "$family" ]; then
		return 0
	fi
	echo "## $family ($dir $pkgs, -bench '$pattern')"
	(cd "$dir" && go test -run '^$' -bench "$pattern" -benchmem -count "$count" "$@" "$pkgs" | grep -E '^(Benchmark|ok|FAIL|---)' || true)
	echo
}

run limiter   bench                ./...          'Limiter'
run track     bench                ./...          'TrackCall'
run exporters analytics/promexport ./...          'TrackCall'
run exporters analytics/otelexport ./...          'TrackCall'
run errmon    .                    ./errmon       'Record'
run overhead  examples             ./chatserver   'ChatRouteOverhead' -benchtime 3s
if [ -d ratelimit/redislimit ]; then
	run redis ratelimit/redislimit ./...          '.'
fi
run stores    usage/sqlitestore    ./...          '.'
if [ -n "${AIMETER_TEST_POSTGRES_DSN:-}" ]; then
	run stores usage/pgstore       ./...          '.'
fi
run snapshot  .                    ./analytics    'Build|Snapshot'
run budgets   .                    ./budget       '.'
if [ -n "${AIMETER_TEST_REDIS_ADDR:-}" ]; then
	run budgets budget/redisbudget   ./...          '.'
fi
