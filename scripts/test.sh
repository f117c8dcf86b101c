#!/usr/bin/env bash
# Runs every check of every module of the workspace: gofmt, go vet and
# go test -race. Run it from anywhere inside the repository.
set -euo pipefail

cd "$(dirname "$0")/.."

# Every directory with a go.mod is a module of the workspace.
mapfile -t modules < <(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)

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

if [ "$status" -ne 0 ]; then
	echo "FAIL: some checks failed"
fi
exit "$status"
