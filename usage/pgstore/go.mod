module github.com/aimeter/aimeter/usage/pgstore

go 1.25.0

require (
	github.com/aimeter/aimeter v0.0.0
	github.com/jackc/pgx/v5 v5.13.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/sashabaranov/go-openai v1.43.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

// The adapter always builds against the aimeter source it sits in.
replace github.com/aimeter/aimeter => ../..
