// Package bench holds benchmarks that compare aimeter with the libraries
// users would otherwise pick. It is a module of its own so that the root
// module never depends on them. Run it with scripts/bench.sh, or:
//
//	cd bench && go test -run '^$' -bench . -benchmem
package bench
