package analytics_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
)

func TestBuildBudgetsSection(t *testing.T) {
	guard, err := budget.New(budget.Config{
		Budgets: []budget.Budget{{Name: "daily-spend", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(time.UTC)}},
		Ledger:  budget.NewMemory(budget.MemoryConfig{}),
		Prices:  usage.DefaultTable(),
		Clock:   fixedClock,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := guard.Reserve(context.Background(), "team-a", budget.Request{Model: "gpt-4o-mini", InputTokens: 1000, MaxOutputTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	rec := usage.Record{Time: testNow, Call: usage.Call{Model: "gpt-4o-mini", Key: "team-a"}, UsageKnown: true, Priced: true, CostNanos: 210_000,
		Tokens: usage.Tokens{Input: 1000, Output: 100}}
	if err := res.Settle(&rec); err != nil {
		t.Fatal(err)
	}

	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, nil), Clock: fixedClock, Budgets: guard}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeAll})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Budgets == nil || len(snap.Budgets.Keys) != 1 {
		t.Fatalf("budgets section = %+v, want one key", snap.Budgets)
	}
	js, err := json.Marshal(snap.Budgets)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"daily-spend"`, `"key":"team-a"`, `"spent":0.00021`, `"remaining":0.99979`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("budgets JSON lacks %s:\n%s", want, js)
		}
	}

	usageOnly, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeUsage})
	if err != nil {
		t.Fatal(err)
	}
	if usageOnly.Budgets != nil {
		t.Errorf("type=usage snapshot has a budgets section")
	}
}
