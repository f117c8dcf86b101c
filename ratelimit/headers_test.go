package ratelimit_test

import (
	"errors"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

func TestFormatPolicy(t *testing.T) {
	tests := []struct {
		name  string
		rules []ratelimit.Rule
		want  string
	}{
		{name: "none", want: ""},
		{name: "api preset", rules: []ratelimit.Rule{ratelimit.APIRule}, want: `"api";q=100;w=60`},
		{
			name:  "several rules",
			rules: []ratelimit.Rule{ratelimit.APIRule, {Name: "tokens", Limit: 90000, Window: time.Minute}},
			want:  `"api";q=100;w=60, "tokens";q=90000;w=60`,
		},
		// 13 per 16.9s announced as whole seconds: 17s, in which at
		// least 13 units refill.
		{name: "fractional window", rules: []ratelimit.Rule{{Name: "f", Limit: 13, Window: 16900 * time.Millisecond}}, want: `"f";q=13;w=17`},
		{name: "window under a second", rules: []ratelimit.Rule{{Name: "f", Limit: 10, Window: 500 * time.Millisecond}}, want: `"f";q=20;w=1`},
		{name: "quotes and backslashes", rules: []ratelimit.Rule{{Name: `a"b\c`, Limit: 1, Window: time.Second}}, want: `"a\"b\\c";q=1;w=1`},
		{name: "non-ASCII name", rules: []ratelimit.Rule{{Name: "règle\n", Limit: 1, Window: time.Second}}, want: `"r_gle_";q=1;w=1`},
		{name: "quota above the largest Integer", rules: []ratelimit.Rule{{Name: "big", Limit: math.MaxInt64, Window: time.Hour}}, want: `"big";q=999999999999999;w=3600`},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.FormatPolicy(tt.rules); got != tt.want {
				t.Errorf("FormatPolicy: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFormatRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		decisions []ratelimit.Decision
		want      string
	}{
		{name: "none", want: ""},
		{
			name:      "rejected uses RetryAfter",
			decisions: []ratelimit.Decision{{Rule: "api", Remaining: 0, ResetAfter: 59 * time.Second, RetryAfter: 5 * time.Second}},
			want:      `"api";r=0;t=5`,
		},
		{
			name:      "allowed uses ResetAfter rounded up",
			decisions: []ratelimit.Decision{{Allowed: true, Rule: "api", Remaining: 7, ResetAfter: 18*time.Second + 1}},
			want:      `"api";r=7;t=19`,
		},
		{
			name:      "never uses ResetAfter",
			decisions: []ratelimit.Decision{{Rule: "api", Remaining: 10, RetryAfter: ratelimit.Never}},
			want:      `"api";r=10;t=0`,
		},
		{
			name: "one item per rule",
			decisions: []ratelimit.Decision{
				{Allowed: true, Rule: "api", Remaining: 99, ResetAfter: 600 * time.Millisecond},
				{Allowed: true, Rule: "tokens", Remaining: 89000, ResetAfter: 666 * time.Millisecond},
			},
			want: `"api";r=99;t=1, "tokens";r=89000;t=1`,
		},
		{name: "negative values become zero", decisions: []ratelimit.Decision{{Allowed: true, Rule: "x", Remaining: -3, ResetAfter: -time.Second}}, want: `"x";r=0;t=0`},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.FormatRateLimit(tt.decisions); got != tt.want {
				t.Errorf("FormatRateLimit: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 250_000_000)
	tests := []struct {
		name      string
		decisions []ratelimit.Decision
		rules     []ratelimit.Rule
		want      map[string]string // "" means absent
	}{
		{
			name:      "allowed",
			decisions: []ratelimit.Decision{{Allowed: true, Rule: "api", Limit: 100, Remaining: 99, ResetAfter: 600 * time.Millisecond}},
			rules:     []ratelimit.Rule{ratelimit.APIRule},
			want: map[string]string{
				"X-RateLimit-Limit":     "100",
				"X-RateLimit-Remaining": "99",
				// 1_800_000_000.25 + 0.6 = 1_800_000_000.85, rounded up.
				"X-RateLimit-Reset": "1800000001",
				"Retry-After":       "",
				"RateLimit-Policy":  `"api";q=100;w=60`,
				"RateLimit":         `"api";r=99;t=1`,
			},
		},
		{
			name:      "rejected",
			decisions: []ratelimit.Decision{{Rule: "api", Limit: 10, Remaining: 0, ResetAfter: 59 * time.Second, RetryAfter: 5*time.Second + 1}},
			want: map[string]string{
				"X-RateLimit-Limit":     "10",
				"X-RateLimit-Remaining": "0",
				"X-RateLimit-Reset":     "1800000060",
				"Retry-After":           "6",
				"RateLimit-Policy":      "",
				"RateLimit":             `"api";r=0;t=6`,
			},
		},
		{
			name:      "never",
			decisions: []ratelimit.Decision{{Rule: "api", Limit: 10, Remaining: 10, RetryAfter: ratelimit.Never}},
			want: map[string]string{
				"X-RateLimit-Remaining": "10",
				"X-RateLimit-Reset":     "1800000001",
				"Retry-After":           "",
				"RateLimit":             `"api";r=10;t=0`,
			},
		},
		{
			name: "most restrictive rule",
			decisions: []ratelimit.Decision{
				{Allowed: true, Rule: "api", Limit: 100, Remaining: 50, ResetAfter: 30 * time.Second},
				{Rule: "tokens", Limit: 1000, Remaining: 10, ResetAfter: 59 * time.Second, RetryAfter: 3 * time.Second},
			},
			want: map[string]string{
				"X-RateLimit-Limit":     "1000",
				"X-RateLimit-Remaining": "10",
				"Retry-After":           "3",
				"RateLimit":             `"api";r=50;t=30, "tokens";r=10;t=3`,
			},
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			ratelimit.SetHeaders(h, now, tt.decisions, tt.rules)
			for name, want := range tt.want {
				if got := h.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
		})
	}
}

func FuzzFormatHeaders(f *testing.F) {
	f.Add("api", int64(100), int64(time.Minute), int64(0), int64(3), int64(time.Second), int64(0), true)
	f.Add(`q"\`+"\x00é", int64(math.MaxInt64), int64(1), int64(-1), int64(-5), int64(-1), int64(math.MaxInt64), false)
	f.Add("", int64(0), int64(0), int64(0), int64(0), int64(0), int64(5*time.Second+1), false)
	f.Add("tokens", int64(13), int64(16900*time.Millisecond), int64(40), int64(1e18), int64(math.MaxInt64), int64(1), false)

	f.Fuzz(func(t *testing.T, name string, limit, window, burst, remaining, reset, retry int64, allowed bool) {
		rule := ratelimit.Rule{Name: name, Limit: limit, Window: time.Duration(window), Burst: burst}
		d := ratelimit.Decision{
			Allowed: allowed, Rule: name, Limit: limit, Remaining: remaining,
			ResetAfter: time.Duration(reset), RetryAfter: time.Duration(retry),
		}
		wantName := sanitizedName(name)

		policy, err := parseSFList(ratelimit.FormatPolicy([]ratelimit.Rule{rule, rule}))
		if err != nil {
			t.Fatalf("FormatPolicy output does not parse: %v", err)
		}
		if len(policy) != 2 {
			t.Fatalf("FormatPolicy of two rules: got %d items", len(policy))
		}
		for _, item := range policy {
			if item.name != wantName {
				t.Errorf("policy item name: got %q, want %q", item.name, wantName)
			}
			checkParams(t, item, "q", "w")
		}
		if rule.Validate() == nil {
			checkPolicyQuota(t, rule, policy[0])
		}

		items, err := parseSFList(ratelimit.FormatRateLimit([]ratelimit.Decision{d}))
		if err != nil {
			t.Fatalf("FormatRateLimit output does not parse: %v", err)
		}
		if len(items) != 1 || items[0].name != wantName {
			t.Fatalf("FormatRateLimit items: got %+v, want one named %q", items, wantName)
		}
		checkParams(t, items[0], "r", "t")

		h := http.Header{}
		ratelimit.SetHeaders(h, time.Unix(1_800_000_000, 0), []ratelimit.Decision{d}, []ratelimit.Rule{rule})
		for field, values := range h {
			for _, v := range values {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Errorf("%s contains a control character: %q", field, v)
				}
			}
		}
		if v := h.Get("Retry-After"); v != "" {
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil || secs < 0 {
				t.Errorf("Retry-After: got %q, want a non-negative integer", v)
			}
			if wait := time.Duration(retry); wait > 0 && wait < time.Duration(math.MaxInt64/2) && time.Duration(secs)*time.Second < wait {
				t.Errorf("Retry-After %ds is earlier than the wait %v", secs, wait)
			}
		}
	})
}

// checkParams checks that item has exactly the named parameters, each an
// Integer between 0 and the largest structured-field Integer.
func checkParams(t *testing.T, item sfItem, names ...string) {
	t.Helper()
	if len(item.params) != len(names) {
		t.Fatalf("item %q: got %d parameters, want %v", item.name, len(item.params), names)
	}
	for i, name := range names {
		p := item.params[i]
		if p.key != name {
			t.Errorf("item %q parameter %d: got %q, want %q", item.name, i, p.key, name)
		}
		if p.value < 0 || p.value > 999_999_999_999_999 {
			t.Errorf("item %q parameter %s: %d out of range", item.name, p.key, p.value)
		}
	}
}

// checkPolicyQuota checks that the announced quota never exceeds what the
// rule refills in the announced window, unless it was capped.
func checkPolicyQuota(t *testing.T, rule ratelimit.Rule, item sfItem) {
	t.Helper()
	q, w := item.params[0].value, item.params[1].value
	if w*int64(time.Second) < int64(rule.Window) && w < math.MaxInt64/int64(time.Second) {
		t.Errorf("w=%d is shorter than the window %v", w, rule.Window)
	}
	// q ≤ Limit · w / Window.
	lhs := new(big.Int).Mul(big.NewInt(q), big.NewInt(int64(rule.Window)))
	rhs := new(big.Int).Mul(big.NewInt(rule.Limit), new(big.Int).Mul(big.NewInt(w), big.NewInt(int64(time.Second))))
	if lhs.Cmp(rhs) > 0 {
		t.Errorf("q=%d;w=%d announces more than %d per %v", q, w, rule.Limit, rule.Window)
	}
}

// sanitizedName returns name as the formatters must send it.
func sanitizedName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 0x20 && r <= 0x7e {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

type sfParam struct {
	key   string
	value int64
}

type sfItem struct {
	name   string
	params []sfParam
}

// parseSFList parses a structured-field List (RFC 9651) whose members are
// Strings with Integer parameters, the only shape the formatters send.
func parseSFList(s string) ([]sfItem, error) {
	var items []sfItem
	if s == "" {
		return nil, nil
	}
	for {
		var item sfItem
		var err error
		item.name, s, err = parseSFString(s)
		if err != nil {
			return nil, err
		}
		for strings.HasPrefix(s, ";") {
			var p sfParam
			p.key, s, err = parseSFKey(s[1:])
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(s, "=") {
				return nil, errors.New("parameter without a value")
			}
			p.value, s, err = parseSFInteger(s[1:])
			if err != nil {
				return nil, err
			}
			item.params = append(item.params, p)
		}
		items = append(items, item)

		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return items, nil
		}
		if s[0] != ',' {
			return nil, errors.New("missing comma between members")
		}
		s = strings.TrimLeft(s[1:], " \t")
		if s == "" {
			return nil, errors.New("trailing comma")
		}
	}
}

func parseSFString(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, errors.New("string does not start with a quote")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", s, errors.New("bad escape")
			}
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], nil
		case c < 0x20 || c > 0x7e:
			return "", s, errors.New("character outside printable ASCII")
		default:
			b.WriteByte(c)
		}
	}
	return "", s, errors.New("unterminated string")
}

func parseSFKey(s string) (string, string, error) {
	if s == "" || !(s[0] == '*' || (s[0] >= 'a' && s[0] <= 'z')) {
		return "", s, errors.New("bad key")
	}
	i := 1
	for i < len(s) && strings.IndexByte("abcdefghijklmnopqrstuvwxyz0123456789_-.*", s[i]) >= 0 {
		i++
	}
	return s[:i], s[i:], nil
}

func parseSFInteger(s string) (int64, string, error) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == digits || i-digits > 15 {
		return 0, s, errors.New("bad integer")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	return n, s[i:], err
}
