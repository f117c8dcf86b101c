module github.com/aimeter/aimeter

go 1.21

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2
	github.com/google/uuid v1.6.0
	github.com/sashabaranov/go-openai v1.43.0
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
