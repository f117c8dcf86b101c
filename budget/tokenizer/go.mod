module github.com/aimeter/aimeter/budget/tokenizer

go 1.21

require (
	github.com/aimeter/aimeter v0.0.0
	github.com/pkoukk/tiktoken-go v0.1.8
	github.com/pkoukk/tiktoken-go-loader v0.0.2
	github.com/sashabaranov/go-openai v1.43.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/dlclark/regexp2 v1.10.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
)

// The tokenizer always builds against the aimeter source it sits in.
replace github.com/aimeter/aimeter => ../..
