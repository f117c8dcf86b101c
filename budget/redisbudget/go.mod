module github.com/aimeter/aimeter/budget/redisbudget

go 1.26.0

require (
	github.com/aimeter/aimeter v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/sashabaranov/go-openai v1.43.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// The ledger always builds against the aimeter source it sits in.
replace github.com/aimeter/aimeter => ../..
