package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/budget/redisbudget"
	"github.com/aimeter/aimeter/budget/tokenizer"
	"github.com/aimeter/aimeter/usage"
	"github.com/redis/go-redis/v9"
)

// dailyBudget returns a guard with one spend budget per client key and
// calendar day in the zone named by tz, alerting at 50%, 80% and 100%. Its
// ledger is kept in Redis when client is not nil, so every replica shares
// it, and in this process otherwise. Prompts are counted with tiktoken's
// encodings for OpenAI models and estimated at four characters per token
// for others.
func dailyBudget(usd float64, tz string, client *redis.Client, logger *slog.Logger) (*budget.Guard, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("-budget-tz %q: %w", tz, err)
	}
	var ledger budget.Ledger = budget.NewMemory(budget.MemoryConfig{})
	if client != nil {
		ledger = redisbudget.New(client, redisbudget.Config{})
	}
	return budget.New(budget.Config{
		Budgets: []budget.Budget{{
			Name:       "daily-spend",
			Unit:       budget.Spend,
			Limit:      budget.USD(usd),
			Window:     budget.Daily(loc),
			Thresholds: []int{50, 80, 100},
		}},
		Ledger:    ledger,
		Prices:    usage.DefaultTable(),
		Estimator: tokenizer.New(nil),
		OnAlert: func(a budget.Alert) {
			logger.Warn("budget threshold reached", "budget", a.Budget, "key", a.Key,
				"percent", a.Threshold, "spent_usd", budget.FormatUSD(a.Spent), "limit_usd", budget.FormatUSD(a.Limit))
		},
		Logger: logger,
	})
}
