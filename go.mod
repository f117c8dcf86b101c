module github.com/aimeter/aimeter

go 1.21

require github.com/HdrHistogram/hdrhistogram-go v1.1.2

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/sashabaranov/go-openai v1.43.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)
