module github.com/aimeter/aimeter/bench

go 1.26.0

require (
	github.com/aimeter/aimeter v0.0.0
	github.com/sethvargo/go-limiter v0.7.1
	golang.org/x/time v0.16.0
)

// The comparisons always measure the aimeter source beside them.
replace github.com/aimeter/aimeter => ../
