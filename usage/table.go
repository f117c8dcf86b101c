package usage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

//go:embed prices_default.json
var defaultPricesJSON []byte

// ErrBadPriceData is returned, wrapped with the entry's name and the reason,
// when a price file holds a negative, non-numeric or otherwise unusable
// price, or a unit the loader does not know.
var ErrBadPriceData = errors.New("usage: bad price data")

// Table maps model names to prices.
//
// Lookup resolves a name in this order: the exact name; the name without a
// trailing -YYYY-MM-DD date; for an undated name the table lacks, its
// newest dated snapshot, as providers point such names at their newest
// snapshot ("o1" → "o1-2024-12-17"); the alias rules; and, for a
// fine-tuned name "ft:BASE:org:suffix:id", the entry "ft:BASE". A fine-tuned model with no
// "ft:BASE" entry is unpriced: fine-tuned models cost more than their base,
// so pricing one as its base would understate the bill.
//
// A Table is safe for concurrent use. Lookups take no lock: Set, Alias and
// Merge publish a new copy of the table, so they cost time proportional to
// its size and belong at start-up, not in the request path.
type Table struct {
	mu   sync.Mutex // serialises writers
	data atomic.Pointer[tableData]
}

// tableData is one immutable version of a table.
type tableData struct {
	prices  map[string]*Price
	aliases map[string]string
	// latest maps an undated name the table lacks, such as "o1", to its
	// newest dated snapshot, such as "o1-2024-12-17".
	latest map[string]string
}

// indexSnapshots fills d.latest from the dated names of d.prices.
func (d *tableData) indexSnapshots() {
	d.latest = make(map[string]string)
	for name := range d.prices {
		base, dated := trimDate(name)
		if !dated {
			continue
		}
		if _, ok := d.prices[base]; ok {
			continue
		}
		// Dates in YYYY-MM-DD form sort as strings.
		if cur, ok := d.latest[base]; !ok || name > cur {
			d.latest[base] = name
		}
	}
}

// NewTable returns an empty table.
func NewTable() *Table {
	return newTableFrom(make(map[string]*Price), make(map[string]string))
}

func newTableFrom(prices map[string]*Price, aliases map[string]string) *Table {
	t := &Table{}
	d := &tableData{prices: prices, aliases: aliases}
	d.indexSnapshots()
	t.data.Store(d)
	return t
}

// update copies the current version, lets change edit the copy and
// publishes it.
func (t *Table) update(change func(d *tableData)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.data.Load()
	d := &tableData{prices: make(map[string]*Price, len(old.prices)+1), aliases: make(map[string]string, len(old.aliases))}
	for k, v := range old.prices {
		d.prices[k] = v
	}
	for k, v := range old.aliases {
		d.aliases[k] = v
	}
	change(d)
	d.indexSnapshots()
	t.data.Store(d)
}

var (
	defaultTableOnce sync.Once
	defaultTable     *Table
)

// DefaultTable returns a new copy of the built-in price table: the OpenAI
// and Anthropic chat, completion and embedding models of LiteLLM's price
// map, as published on 2026-07-24. Prices change; load your own with
// LoadLiteLLM or LoadNative, or override entries with Set, to keep them
// current.
func DefaultTable() *Table {
	defaultTableOnce.Do(func() {
		t, err := LoadLiteLLM(bytes.NewReader(defaultPricesJSON))
		if err != nil {
			panic("usage: built-in price table: " + err.Error())
		}
		defaultTable = t
	})
	return defaultTable.Clone()
}

// Clone returns an independent copy of t.
func (t *Table) Clone() *Table {
	c := NewTable()
	c.Merge(t)
	return c
}

// Set adds or replaces the price of a model. It returns an error when a
// rate is out of range or the input rate is missing.
func (t *Table) Set(model string, p Price) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPriceData, model, err)
	}
	t.update(func(d *tableData) { d.prices[model] = &p })
	return nil
}

// Alias makes lookups of alias resolve to model, such as an Azure
// deployment name "prod-chat-eu" to "gpt-4o". The target is resolved when
// looked up, so it may be added after the alias.
func (t *Table) Alias(alias, model string) {
	t.update(func(d *tableData) { d.aliases[alias] = model })
}

// Len returns the number of models with a price.
func (t *Table) Len() int {
	return len(t.data.Load().prices)
}

// Models returns the names of the models with a price, sorted.
func (t *Table) Models() []string {
	prices := t.data.Load().prices
	names := make([]string, 0, len(prices))
	for k := range prices {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// trimDate returns name without a trailing -YYYY-MM-DD date, and whether it
// had one. It does not allocate: Lookup runs it for every model that has no
// exact entry.
func trimDate(name string) (string, bool) {
	const n = len("-2006-01-02")
	if len(name) <= n {
		return name, false
	}
	tail := name[len(name)-n:]
	for i := 0; i < n; i++ {
		c := tail[i]
		if i == 0 || i == 5 || i == 8 {
			if c != '-' {
				return name, false
			}
		} else if c < '0' || c > '9' {
			return name, false
		}
	}
	return name[:len(name)-n], true
}

// Lookup returns the price of model and the table entry that supplied it,
// or false when the model is unpriced.
func (t *Table) Lookup(model string) (Price, string, bool) {
	if p, name, ok := t.lookup(model); ok {
		return *p, name, true
	}
	return Price{}, "", false
}

// lookup is Lookup returning the table's own copy of the price, which the
// caller must not change.
func (t *Table) lookup(model string) (*Price, string, bool) {
	d := t.data.Load()
	if p, ok := d.prices[model]; ok {
		return p, model, true
	}
	if base, dated := trimDate(model); dated {
		if p, ok := d.prices[base]; ok {
			return p, base, true
		}
	} else if dated, ok := d.latest[model]; ok {
		return d.prices[dated], dated, true
	}
	if target, ok := d.aliases[model]; ok {
		if p, ok := d.prices[target]; ok {
			return p, target, true
		}
		if base, dated := trimDate(target); dated {
			if p, ok := d.prices[base]; ok {
				return p, base, true
			}
		}
	}
	if strings.HasPrefix(model, "ft:") {
		// ft:BASE:org:suffix:id → ft:BASE, never BASE alone.
		if i := strings.IndexByte(model[3:], ':'); i > 0 {
			name := model[:3+i]
			if p, ok := d.prices[name]; ok {
				return p, name, true
			}
		}
	}
	return nil, "", false
}

// LoadLiteLLM reads a price table in the format of LiteLLM's
// model_prices_and_context_window.json: an object from model name to an
// object with input_cost_per_token, output_cost_per_token,
// cache_read_input_token_cost and related fields, in USD per token.
// Entries without input_cost_per_token (image and audio models priced per
// image or second, and the sample_spec entry) are skipped. A negative or
// non-numeric price is an error that names the entry.
func LoadLiteLLM(r io.Reader) (*Table, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("load litellm prices: %w", err)
	}

	prices := make(map[string]*Price, len(raw))
	for name, body := range raw {
		var entry map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&entry); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPriceData, name, err)
		}
		p, ok, err := liteLLMPrice(entry)
		if err == nil && ok {
			err = p.validate()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPriceData, name, err)
		}
		if ok {
			prices[name] = &p
		}
	}
	return newTableFrom(prices, make(map[string]string)), nil
}

// liteLLMPrice converts one LiteLLM entry. It returns false for entries
// with no per-token input price.
func liteLLMPrice(e map[string]any) (Price, bool, error) {
	if _, ok := e["input_cost_per_token"]; !ok {
		return Price{}, false, nil
	}
	var p Price
	p.Provider, _ = e["litellm_provider"].(string)
	p.Mode, _ = e["mode"].(string)

	var err error
	field := func(key string) Rate {
		if err != nil {
			return Rate{}
		}
		v, ok := e[key]
		if !ok || v == nil {
			return Rate{}
		}
		n, isNum := v.(json.Number)
		if !isNum {
			err = fmt.Errorf("%s: %v is not a number", key, v)
			return Rate{}
		}
		var r Rate
		r, err = rateFromDecimal(n.String(), 1)
		if err != nil {
			err = fmt.Errorf("%s: %w", key, err)
		}
		return r
	}

	p.Input = field("input_cost_per_token")
	p.Output = field("output_cost_per_token")
	p.CachedInput = field("cache_read_input_token_cost")
	p.CacheWrite = field("cache_creation_input_token_cost")
	p.Reasoning = field("output_cost_per_reasoning_token")
	for _, threshold := range []struct {
		suffix string
		tokens int64
	}{{"_above_128k_tokens", 128_000}, {"_above_200k_tokens", 200_000}, {"_above_272k_tokens", 272_000}} {
		tier := Tier{
			AboveInputTokens: threshold.tokens,
			Input:            field("input_cost_per_token" + threshold.suffix),
			Output:           field("output_cost_per_token" + threshold.suffix),
			CachedInput:      field("cache_read_input_token_cost" + threshold.suffix),
			CacheWrite:       field("cache_creation_input_token_cost" + threshold.suffix),
		}
		if tier.Input.Set || tier.Output.Set || tier.CachedInput.Set || tier.CacheWrite.Set {
			p.Tiers = append(p.Tiers, tier)
		}
	}
	if err != nil {
		return Price{}, false, err
	}
	if !p.Output.Set {
		// Embedding models: LiteLLM sometimes leaves the output rate out.
		p.Output = Rate{Set: true}
	}
	return p, true, nil
}

// nativeFile is the small native price format read by LoadNative.
type nativeFile struct {
	Unit    string                 `json:"unit"`
	Models  map[string]nativeModel `json:"models"`
	Aliases map[string]string      `json:"aliases"`
}

type nativeModel struct {
	Provider    string       `json:"provider"`
	Mode        string       `json:"mode"`
	Unit        string       `json:"unit"`
	Input       *json.Number `json:"input"`
	CachedInput *json.Number `json:"cached_input"`
	CacheWrite  *json.Number `json:"cache_write"`
	Output      *json.Number `json:"output"`
	Reasoning   *json.Number `json:"reasoning"`
}

// LoadNative reads aimeter's own price format, meant for overrides and for
// models no public table lists:
//
//	{
//	  "unit": "1M",
//	  "models": {
//	    "my-model": {"provider": "acme", "input": 0.15, "cached_input": 0.075, "output": 0.60}
//	  },
//	  "aliases": {"prod-chat-eu": "gpt-4o"}
//	}
//
// Prices are USD per unit, where unit is "token", "1K" or "1M" tokens, set
// for the file and optionally per model; it is converted to per-token rates
// once, here. An unknown unit, a missing input price or a negative price is
// an error that names the entry.
func LoadNative(r io.Reader) (*Table, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var f nativeFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load native prices: %w", err)
	}

	prices := make(map[string]*Price, len(f.Models))
	for name, m := range f.Models {
		unit := m.Unit
		if unit == "" {
			unit = f.Unit
		}
		per, err := unitTokens(unit)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPriceData, name, err)
		}
		rate := func(n *json.Number) Rate {
			if n == nil || err != nil {
				return Rate{}
			}
			var r Rate
			r, err = rateFromDecimal(n.String(), per)
			return r
		}
		p := Price{
			Provider:    m.Provider,
			Mode:        m.Mode,
			Input:       rate(m.Input),
			CachedInput: rate(m.CachedInput),
			CacheWrite:  rate(m.CacheWrite),
			Output:      rate(m.Output),
			Reasoning:   rate(m.Reasoning),
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPriceData, name, err)
		}
		if !p.Output.Set {
			p.Output = Rate{Set: true}
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPriceData, name, err)
		}
		prices[name] = &p
	}
	aliases := make(map[string]string, len(f.Aliases))
	for alias, model := range f.Aliases {
		aliases[alias] = model
	}
	return newTableFrom(prices, aliases), nil
}

func unitTokens(unit string) (int64, error) {
	switch strings.ToLower(unit) {
	case "", "token":
		return 1, nil
	case "1k":
		return 1_000, nil
	case "1m":
		return 1_000_000, nil
	}
	return 0, fmt.Errorf("unknown unit %q (want \"token\", \"1K\" or \"1M\")", unit)
}

// Merge copies every price and alias of o into t, replacing entries of the
// same name, so a small override file can be laid over the default table.
func (t *Table) Merge(o *Table) {
	src := o.data.Load()
	t.update(func(d *tableData) {
		for k, v := range src.prices {
			d.prices[k] = v
		}
		for k, v := range src.aliases {
			d.aliases[k] = v
		}
	})
}
