package usage_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aimeter/aimeter/usage"
)

func loadFile(t *testing.T, path string) *usage.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table, err := usage.LoadLiteLLM(f)
	if err != nil {
		t.Fatalf("LoadLiteLLM(%s): %v", path, err)
	}
	return table
}

func TestDefaultPricesMatchLiteLLM(t *testing.T) {
	def := usage.DefaultTable()
	for _, file := range []string{"testdata/litellm-model-prices.json", "testdata/openai-embedding-prices.json"} {
		src := loadFile(t, file)
		shared := 0
		for _, model := range src.Models() {
			want, _, _ := src.Lookup(model)
			got, entry, ok := def.Lookup(model)
			if !ok || entry != model {
				continue
			}
			shared++
			if got.Input != want.Input || got.Output != want.Output || got.CachedInput != want.CachedInput ||
				got.CacheWrite != want.CacheWrite || got.Reasoning != want.Reasoning || !slices.Equal(got.Tiers, want.Tiers) {
				t.Errorf("%s: built-in price %+v, want %+v from %s", model, got, want, file)
			}
		}
		if shared == 0 {
			t.Errorf("%s: no model shared with the built-in table", file)
		}
	}
	for _, model := range []string{"gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "text-embedding-3-large", "claude-sonnet-4-5"} {
		if _, _, ok := def.Lookup(model); !ok {
			t.Errorf("built-in table lacks %s", model)
		}
	}
}

func TestLookupOrder(t *testing.T) {
	table := usage.DefaultTable()
	table.Alias("prod-chat-eu", "gpt-4o-2024-08-06")
	if err := table.Set("ft:gpt-4o-mini-2024-07-18", usage.Price{Input: usage.PerMillion(0.30), Output: usage.PerMillion(1.20)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model     string
		wantEntry string
		wantOK    bool
	}{
		{"gpt-4o-2024-08-06", "gpt-4o-2024-08-06", true},
		{"gpt-4o-mini-2031-01-01", "gpt-4o-mini", true},
		{"o1", "o1-2024-12-17", true},
		{"claude-3-haiku", "", false}, // Anthropic dates have no dashes and no undated alias
		{"prod-chat-eu", "gpt-4o-2024-08-06", true},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18", true},
		{"ft:gpt-4o-2024-08-06:acme::abc123", "", false},
		{"gpt-4o-mini-fast", "", false},
		{"new-model", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			_, entry, ok := table.Lookup(tt.model)
			if ok != tt.wantOK || entry != tt.wantEntry {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.model, entry, ok, tt.wantEntry, tt.wantOK)
			}
		})
	}
}

func TestCostIsExact(t *testing.T) {
	p := usage.Price{Input: usage.PerToken(2.5e-6), CachedInput: usage.PerToken(1.25e-6), Output: usage.PerToken(1e-5)}
	if got, want := p.Cost(usage.Tokens{Input: 2006, CachedInput: 1920, Output: 300}), int64(5_615_000); got != want {
		t.Errorf("Cost = %d nano-dollars, want %d", got, want)
	}
	// A sub-nano-dollar remainder is rounded once per call, half up.
	tiny := usage.Price{Input: usage.PerToken(5e-9 / 10)}
	if got := tiny.Cost(usage.Tokens{Input: 3}); got != 2 {
		t.Errorf("Cost of 3 tokens at 0.5 nano-dollars = %d, want 2 (1.5 rounded half up)", got)
	}
	// Very large counts do not overflow the intermediate sum.
	big := usage.Price{Input: usage.PerToken(1e-4)}
	if got, want := big.Cost(usage.Tokens{Input: 1 << 40}), int64(1<<40)*100_000; got != want {
		t.Errorf("Cost of 2^40 tokens = %d, want %d", got, want)
	}
}

func TestTieredPrice(t *testing.T) {
	table := usage.DefaultTable()
	p, _, ok := table.Lookup("claude-sonnet-4-5")
	if !ok {
		t.Fatal("claude-sonnet-4-5 missing")
	}
	small := p.Cost(usage.Tokens{Input: 200_000})
	large := p.Cost(usage.Tokens{Input: 200_001})
	if small != 200_000*3000 {
		t.Errorf("cost at 200k prompt tokens = %d, want %d", small, 200_000*3000)
	}
	if large != 200_001*6000 {
		t.Errorf("cost above 200k prompt tokens = %d, want %d", large, 200_001*6000)
	}
}

func TestLoadRejectsBadPrices(t *testing.T) {
	tests := []struct {
		name   string
		native bool
		body   string
		want   string
	}{
		{"negative", false, `{"m1": {"input_cost_per_token": -1e-6, "output_cost_per_token": 1e-6}}`, "m1"},
		{"not a number", false, `{"m2": {"input_cost_per_token": "cheap"}}`, "m2"},
		{"above a dollar per token", false, `{"m3": {"input_cost_per_token": 2}}`, "m3"},
		{"unknown unit", true, `{"models": {"m4": {"input": 1, "unit": "1G"}}}`, "m4"},
		{"missing input", true, `{"models": {"m5": {"output": 1}}}`, "m5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.native {
				_, err = usage.LoadNative(strings.NewReader(tt.body))
			} else {
				_, err = usage.LoadLiteLLM(strings.NewReader(tt.body))
			}
			if !errors.Is(err, usage.ErrBadPriceData) {
				t.Fatalf("err = %v, want ErrBadPriceData", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestLoadNativeConvertsUnitsOnce(t *testing.T) {
	table, err := usage.LoadNative(strings.NewReader(`{"unit": "1M", "models": {"mini": {"input": 0.15, "output": 0.60}}, "aliases": {"eu-mini": "mini"}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, entry, ok := table.Lookup("eu-mini")
	if !ok || entry != "mini" {
		t.Fatalf("Lookup(eu-mini) = %q, %v", entry, ok)
	}
	if got, want := p.Cost(usage.Tokens{Input: 1_000_000}), int64(150_000_000); got != want {
		t.Errorf("1M prompt tokens cost %d nano-dollars, want %d", got, want)
	}
	if got, want := p.Cost(usage.Tokens{Output: 1000}), int64(600_000); got != want {
		t.Errorf("1K completion tokens cost %d nano-dollars, want %d", got, want)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	table := usage.DefaultTable()
	for _, model := range []string{"gpt-4o-mini", "gpt-4o-mini-2031-01-01", "o1", "prod-chat-eu", "ft:gpt-4o:acme::x"} {
		allocs := testing.AllocsPerRun(100, func() { table.Lookup(model) })
		if allocs != 0 {
			t.Errorf("Lookup(%q) allocates %.0f times, want 0", model, allocs)
		}
	}
}
