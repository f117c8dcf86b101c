package budget

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Unit names the quantity a budget counts. Its string form is the "unit"
// field of the JSON that this package writes.
type Unit string

const (
	// Spend budgets count cost in nano-dollars (1e-9 USD), as
	// usage.Record.CostNanos does. JSON shows them in USD.
	Spend Unit = "usd"
	// Tokens budgets count tokens: usage.Tokens.Total, which is every
	// prompt token (cached ones included) plus every completion token
	// (reasoning ones included).
	Tokens Unit = "tokens"
)

// maxThresholds is the largest number of alert thresholds a budget may
// have.
const maxThresholds = 32

// maxNameLen is the longest budget name, in bytes.
const maxNameLen = 64

// Budget is a limit on what each key may spend in each window.
//
// A key is whatever the caller charges under: a user, a tenant, a hash of
// an API key. Every key has its own allowance of Limit per window.
type Budget struct {
	// Name identifies the budget in errors, alerts, headers, JSON and
	// ledger keys. It is 1 to 64 bytes of ASCII letters, digits, '-', '_'
	// and '.'.
	Name string
	// Unit is Spend or Tokens.
	Unit Unit
	// Limit is the allowance per key and window: nano-dollars for Spend
	// (see USD), tokens for Tokens. It must be positive.
	Limit int64
	// Window is the period that Limit covers.
	Window Window
	// Thresholds are percentages of Limit, from 1 to 1000, at which alerts
	// fire: an alert fires once per key, window and threshold, when the
	// settled spend reaches it. Up to 32 distinct values. Nil means no
	// alerts.
	Thresholds []int
}

// Validate reports whether b can be used.
func (b Budget) Validate() error {
	if err := validateName(b.Name); err != nil {
		return err
	}
	if b.Unit != Spend && b.Unit != Tokens {
		return fmt.Errorf("budget %q: unit %q is neither %q nor %q", b.Name, b.Unit, Spend, Tokens)
	}
	if b.Limit <= 0 {
		return fmt.Errorf("budget %q: limit %d must be positive", b.Name, b.Limit)
	}
	if err := b.Window.Validate(); err != nil {
		return fmt.Errorf("budget %q: %w", b.Name, err)
	}
	if len(b.Thresholds) > maxThresholds {
		return fmt.Errorf("budget %q: %d thresholds, the maximum is %d", b.Name, len(b.Thresholds), maxThresholds)
	}
	seen := make(map[int]bool, len(b.Thresholds))
	for _, p := range b.Thresholds {
		if p < 1 || p > 1000 {
			return fmt.Errorf("budget %q: threshold %d%% is outside 1%% to 1000%%", b.Name, p)
		}
		if seen[p] {
			return fmt.Errorf("budget %q: threshold %d%% is listed twice", b.Name, p)
		}
		seen[p] = true
	}
	return nil
}

func validateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("budget name %q must be 1 to %d bytes long", name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("budget name %q: byte %q is not a letter, digit, '-', '_' or '.'", name, c)
		}
	}
	return nil
}

// ThresholdAmounts returns, for each of b.Thresholds in order, the settled
// spend at which its alert fires: Limit·p/100 rounded up, in b's unit.
func (b Budget) ThresholdAmounts() []int64 {
	out := make([]int64, len(b.Thresholds))
	for i, p := range b.Thresholds {
		out[i] = percentOf(b.Limit, p)
	}
	return out
}

// percentOf returns ⌈limit·p/100⌉ for a positive limit and p, saturating
// at the largest int64.
func percentOf(limit int64, p int) int64 {
	hi, lo := bits.Mul64(uint64(limit), uint64(p))
	lo, carry := bits.Add64(lo, 99, 0)
	hi += carry
	if hi >= 100 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 100)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// MarshalJSON writes the budget as
//
//	{"name":"daily","unit":"usd","limit":1,"window":{"period":"day","time_zone":"UTC"},"thresholds":[50,80,100]}
//
// with the limit in USD for Spend budgets and in tokens for Tokens budgets.
func (b Budget) MarshalJSON() ([]byte, error) {
	thresholds := b.Thresholds
	if thresholds == nil {
		thresholds = []int{}
	}
	return json.Marshal(struct {
		Name       string      `json:"name"`
		Unit       Unit        `json:"unit"`
		Limit      json.Number `json:"limit"`
		Window     Window      `json:"window"`
		Thresholds []int       `json:"thresholds"`
	}{b.Name, b.Unit, b.Unit.number(b.Limit), b.Window, thresholds})
}

// USD returns dollars in nano-dollars, rounded to the nearest one, for
// Budget.Limit: USD(1.50) is 1,500,000,000. It panics on a negative, NaN
// or infinite amount, or one above about 9.2 billion dollars, which are
// programmer mistakes.
func USD(dollars float64) int64 {
	n := math.Round(dollars * 1e9)
	if math.IsNaN(n) || n < 0 || n >= math.MaxInt64 {
		panic(fmt.Sprintf("budget: USD(%v): the amount must be between 0 and 9.2e9 dollars", dollars))
	}
	return int64(n)
}

// FormatUSD writes nano-dollars as an exact decimal number of dollars
// without trailing zeros, such as "1.5" or "0.000412".
func FormatUSD(nanos int64) string {
	neg := nanos < 0
	u := uint64(nanos)
	if neg {
		u = -u
	}
	whole, frac := u/1e9, u%1e9
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		f := strconv.FormatUint(frac+1e9, 10)[1:] // nine digits with leading zeros
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		s += "." + f
	}
	if neg {
		s = "-" + s
	}
	return s
}

// number returns an amount in u as a JSON number: USD for Spend, tokens
// otherwise.
func (u Unit) number(n int64) json.Number {
	if u == Spend {
		return json.Number(FormatUSD(n))
	}
	return json.Number(strconv.FormatInt(n, 10))
}

// format returns an amount in u for messages: "$0.0021" or "1200 tokens".
func (u Unit) format(n int64) string {
	if u == Spend {
		return "$" + FormatUSD(n)
	}
	return strconv.FormatInt(n, 10) + " tokens"
}
