package simprovider_test

import (
	"context"
	"errors"
	"fmt"

	openai "github.com/sashabaranov/go-openai"

	"github.com/aimeter/aimeter/internal/simprovider"
)

func ExampleStart() {
	sim, err := simprovider.Start(simprovider.Config{Latency: simprovider.Fixed(0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sim.Close()

	cfg := openai.DefaultConfig("any-key")
	cfg.BaseURL = sim.URL()
	client := openai.NewClientWithConfig(cfg)

	req := openai.ChatCompletionRequest{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Hello"}},
	}
	for i := 0; i < 2; i++ {
		resp, err := client.CreateChatCompletion(context.Background(), req)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: prompt %d, cached %d\n", resp.Model, resp.Usage.PromptTokens, resp.Usage.PromptTokensDetails.CachedTokens)
	}
	// Output:
	// gpt-4o-mini: prompt 9, cached 0
	// gpt-4o-mini: prompt 9, cached 6
}

func ExampleServer_FailNext() {
	sim, err := simprovider.Start(simprovider.Config{Latency: simprovider.Fixed(0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sim.Close()

	cfg := openai.DefaultConfig("any-key")
	cfg.BaseURL = sim.URL()
	client := openai.NewClientWithConfig(cfg)

	sim.FailNext(1, simprovider.FaultQuota)
	_, err = client.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Hello"}},
	})
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.HTTPStatusCode, apiErr.Code)
	}
	// Output:
	// 429 insufficient_quota
}
