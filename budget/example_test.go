package budget_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// Example limits each key to $1 of calls per day in New York time. Calls
// are reserved at their estimate, settled at the cost that the tracker
// records, and rejected once the next estimate no longer fits.
func Example() {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, ny) // a fixed clock, for the output

	guard := budget.MustNew(budget.Config{
		Budgets: []budget.Budget{{
			Name:       "daily",
			Unit:       budget.Spend,
			Limit:      budget.USD(1),
			Window:     budget.Daily(ny),
			Thresholds: []int{80},
		}},
		OnAlert: func(a budget.Alert) {
			fmt.Printf("alert: %s spent $%s, %d%% of the daily budget\n", a.Key, budget.FormatUSD(a.Spent), a.Threshold)
		},
		Clock: func() time.Time { return now },
	})
	tracker := usage.NewTracker(usage.NewMemoryStore(), usage.WithObserver(guard))
	defer tracker.Close(context.Background())

	// provider replaces client.CreateChatCompletion in this example. Each
	// call uses 1,000 prompt and 7,500 completion tokens, $0.0775 at
	// gpt-4o's price.
	provider := func(context.Context) (openai.ChatCompletionResponse, error) {
		return openai.ChatCompletionResponse{Usage: openai.Usage{PromptTokens: 1000, CompletionTokens: 7500, TotalTokens: 8500}}, nil
	}
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o", Key: "alice"}
	req := budget.Request{
		Messages:        []openai.ChatCompletionMessage{{Role: "user", Content: "Write a short poem about budgets."}},
		MaxOutputTokens: 8000,
	}

	for i := 1; ; i++ {
		if _, err := budget.TrackCall(context.Background(), guard, tracker, call, req, provider); err != nil {
			fmt.Printf("call %d: %v\n", i, err)
			break
		}
	}
	st, _ := guard.Status(context.Background(), "alice")
	fmt.Printf("spent $%s, reserved $%s, remaining $%s\n",
		budget.FormatUSD(st[0].Spent), budget.FormatUSD(st[0].Reserved), budget.FormatUSD(st[0].Remaining))

	// Output:
	// alert: alice spent $0.8525, 80% of the daily budget
	// call 13: budget "daily" exceeded: requested $0.08004, remaining $0.07 of $1 until 2026-12-05T00:00:00-05:00
	// spent $0.93, reserved $0, remaining $0.07
}
