module github.com/aimeter/aimeter/examples

go 1.21

require (
	github.com/aimeter/aimeter v0.0.0
	github.com/sashabaranov/go-openai v1.43.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
)

// The examples always build against the aimeter source beside them.
replace github.com/aimeter/aimeter => ../
