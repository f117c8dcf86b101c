package redislimit

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
)

// keysFor returns the Redis keys of every rule for key.
func (l *Limiter) keysFor(key string) []string {
	keys := make([]string, len(l.rates))
	l.keys.build(key, keys)
	return keys
}

func TestKeyLayout(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = client.Close() })
	rules := []ratelimit.Rule{
		{Name: "api", Limit: 100, Window: time.Minute},
		{Name: "tokens", Limit: 100_000, Window: time.Minute},
	}
	secret := "sk-live-0123456789abcdef"

	tests := []struct {
		name   string
		opts   []Option
		prefix string
	}{
		{"default prefix", nil, DefaultPrefix},
		{"own prefix", []Option{WithPrefix("svc:")}, "svc:"},
		{"empty prefix", []Option{WithPrefix("")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(client, rules, tt.opts...)
			keys := l.keysFor(secret)
			if len(keys) != 2 {
				t.Fatalf("got %d keys, want 2", len(keys))
			}
			var tags []string
			for i, k := range keys {
				if strings.Contains(k, secret) {
					t.Errorf("key %q contains the caller's key", k)
				}
				if !strings.HasPrefix(k, tt.prefix+"{") {
					t.Errorf("key %q: want prefix %q", k, tt.prefix+"{")
				}
				if want := "}:" + rules[i].Name; !strings.HasSuffix(k, want) {
					t.Errorf("key %q: want suffix %q", k, want)
				}
				open, close := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
				tag := k[open+1 : close]
				if len(tag) != 2*hashBytes {
					t.Errorf("hash tag of %q: got %d characters, want %d", k, len(tag), 2*hashBytes)
				}
				tags = append(tags, tag)
			}
			if tags[0] != tags[1] {
				t.Errorf("hash tags of one caller: got %q and %q, want the same", tags[0], tags[1])
			}
			if other := l.keysFor(secret + "x"); other[0] == keys[0] {
				t.Errorf("two callers share key %q", keys[0])
			}
			if again := l.keysFor(secret); again[0] != keys[0] || again[1] != keys[1] {
				t.Errorf("keys of one caller changed between calls: %v and %v", keys, again)
			}
		})
	}
}
