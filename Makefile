# The two commands of the README: `make run` starts the example chat server,
# `make test` runs every check of every module.

.PHONY: run test

run:
	go run ./examples/chatserver

test:
	./scripts/test.sh
