package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/aimeter/aimeter/ratelimit"
)

// proxy is the address of the trusted reverse proxy in these tests.
var proxyNet = netip.MustParsePrefix("10.0.0.0/8")

func request(remoteAddr string, header http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remoteAddr
	for name, values := range header {
		for _, v := range values {
			r.Header.Add(name, v)
		}
	}
	return r
}

func TestForwardedHeadersNotTrustedByDefault(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		opts     []ratelimit.IPOption
		wantKeys int // distinct buckets for 5 requests
	}{
		{name: "no trusted proxy", wantKeys: 1},
		{name: "proxy trusted", opts: []ratelimit.IPOption{ratelimit.TrustProxies(netip.MustParsePrefix("10.0.0.1/32"))}, wantKeys: 5},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			m := newLimiter(t, perMinute(100), newFakeClock())
			key := ratelimit.KeyByIP(tt.opts...)
			keys := map[string]bool{}
			for i := 0; i < 5; i++ {
				xff := "203.0.113." + strconv.Itoa(i+1)
				r := request("10.0.0.1:5555", http.Header{"X-Forwarded-For": {xff}})
				k, err := key(r)
				if err != nil {
					t.Fatalf("key: %v", err)
				}
				if tt.wantKeys == 5 && k != xff {
					t.Errorf("key with a trusted proxy: got %q, want %q", k, xff)
				}
				keys[k] = true
				if _, err := m.Allow(ctx, k, 1); err != nil {
					t.Fatalf("Allow: %v", err)
				}
			}
			if len(keys) != tt.wantKeys {
				t.Errorf("distinct keys: got %d, want %d", len(keys), tt.wantKeys)
			}
			if got := m.Len(); got != tt.wantKeys {
				t.Errorf("buckets in the limiter: got %d, want %d", got, tt.wantKeys)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	trusted := ratelimit.TrustProxies(proxyNet, netip.MustParsePrefix("fd00::/8"))
	forwarded := ratelimit.UseForwardedHeader()
	tests := []struct {
		name       string
		remoteAddr string
		header     http.Header
		opts       []ratelimit.IPOption
		want       string
	}{
		{name: "direct client", remoteAddr: "198.51.100.7:1234", want: "198.51.100.7"},
		{name: "direct IPv6 client", remoteAddr: "[2001:db8::7]:1234", want: "2001:db8::7"},
		{name: "remote address without port", remoteAddr: "198.51.100.7", want: "198.51.100.7"},
		{name: "IPv4-mapped remote address", remoteAddr: "[::ffff:198.51.100.7]:1", want: "198.51.100.7"},
		{
			name: "header from an untrusted peer is ignored", remoteAddr: "198.51.100.7:1",
			header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}, opts: []ratelimit.IPOption{trusted}, want: "198.51.100.7",
		},
		{
			name: "rightmost untrusted hop", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9, 10.0.0.2"}}, opts: []ratelimit.IPOption{trusted}, want: "203.0.113.9",
		},
		{
			name: "several field lines are one list", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9", "10.0.0.3"}}, opts: []ratelimit.IPOption{trusted}, want: "203.0.113.9",
		},
		{
			name: "every hop trusted", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"10.1.1.1, 10.0.0.2"}}, opts: []ratelimit.IPOption{trusted}, want: "10.1.1.1",
		},
		{
			name: "garbage stops the walk at the last trusted hop", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, unknown, 10.0.0.2"}}, opts: []ratelimit.IPOption{trusted}, want: "10.0.0.2",
		},
		{
			name: "empty elements are skipped", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"203.0.113.9, , "}}, opts: []ratelimit.IPOption{trusted}, want: "203.0.113.9",
		},
		{
			name: "ports and brackets", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"[2001:db8::9]:443, 203.0.113.9:8080"}}, opts: []ratelimit.IPOption{trusted}, want: "203.0.113.9",
		},
		{
			name: "IPv4-mapped trusted prefix", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"203.0.113.9"}},
			opts:   []ratelimit.IPOption{ratelimit.TrustProxies(netip.MustParsePrefix("::ffff:10.0.0.0/104"))}, want: "203.0.113.9",
		},
		{
			name: "IPv6 proxy", remoteAddr: "[fd00::1]:1",
			header: http.Header{"X-Forwarded-For": {"2001:db8::9"}}, opts: []ratelimit.IPOption{trusted}, want: "2001:db8::9",
		},
		{
			name: "X-Forwarded-For ignored when Forwarded is chosen", remoteAddr: "10.0.0.1:1",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6"}}, opts: []ratelimit.IPOption{trusted, forwarded}, want: "10.0.0.1",
		},
		{
			name: "Forwarded", remoteAddr: "10.0.0.1:1",
			header: http.Header{"Forwarded": {`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.2;by=10.0.0.1`}},
			opts:   []ratelimit.IPOption{trusted, forwarded}, want: "2001:db8:cafe::17",
		},
		{
			name: "Forwarded with a quoted comma", remoteAddr: "10.0.0.1:1",
			header: http.Header{"Forwarded": {`for=203.0.113.9;host="a,b"`}},
			opts:   []ratelimit.IPOption{trusted, forwarded}, want: "203.0.113.9",
		},
		{
			name: "Forwarded obfuscated node stops the walk", remoteAddr: "10.0.0.1:1",
			header: http.Header{"Forwarded": {`for=6.6.6.6, for=_hidden, for=10.0.0.2`}},
			opts:   []ratelimit.IPOption{trusted, forwarded}, want: "10.0.0.2",
		},
		{
			name: "Forwarded element without for stops the walk", remoteAddr: "10.0.0.1:1",
			header: http.Header{"Forwarded": {`for=6.6.6.6, proto=http`}},
			opts:   []ratelimit.IPOption{trusted, forwarded}, want: "10.0.0.1",
		},
		{
			name: "Forwarded with two for parameters is unusable", remoteAddr: "10.0.0.1:1",
			header: http.Header{"Forwarded": {`for=6.6.6.6;for=7.7.7.7`}},
			opts:   []ratelimit.IPOption{trusted, forwarded}, want: "10.0.0.1",
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			got, err := ratelimit.ClientIP(request(tt.remoteAddr, tt.header), tt.opts...)
			if err != nil {
				t.Fatalf("ClientIP: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("ClientIP: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPInvalidRemoteAddr(t *testing.T) {
	for _, addr := range []string{"", "@", "localhost:80", "[::1"} {
		if _, err := ratelimit.ClientIP(request(addr, nil)); err == nil {
			t.Errorf("ClientIP with RemoteAddr %q: got no error", addr)
		}
	}
}

func TestKeyByIPGroupsIPv6(t *testing.T) {
	key := ratelimit.KeyByIP(ratelimit.GroupIPv6(64))
	tests := []struct {
		remoteAddr, want string
	}{
		{remoteAddr: "[2001:db8:1:2:aaaa::1]:1", want: "2001:db8:1:2::/64"},
		{remoteAddr: "[2001:db8:1:2:bbbb::9]:1", want: "2001:db8:1:2::/64"},
		{remoteAddr: "192.0.2.1:1", want: "192.0.2.1"},
		{remoteAddr: "[::ffff:192.0.2.1]:1", want: "192.0.2.1"},
	}
	for _, tt := range tests {
		got, err := key(request(tt.remoteAddr, nil))
		if err != nil {
			t.Fatalf("key(%s): %v", tt.remoteAddr, err)
		}
		if got != tt.want {
			t.Errorf("key(%s): got %q, want %q", tt.remoteAddr, got, tt.want)
		}
	}
}

func TestKeyByHeaderStoresHash(t *testing.T) {
	key := ratelimit.KeyByHeader("x-api-key")
	secret := "sk-live-0123456789abcdef"

	got, err := key(request("192.0.2.1:1", http.Header{"X-Api-Key": {secret}}))
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	if strings.Contains(got, secret) || len(got) != 32 {
		t.Errorf("key: got %q, want 32 hex digits of a hash", got)
	}
	again, _ := key(request("198.51.100.1:1", http.Header{"X-Api-Key": {secret}}))
	if again != got {
		t.Errorf("key of the same value: got %q and %q", got, again)
	}
	other, _ := key(request("192.0.2.1:1", http.Header{"X-Api-Key": {secret + "x"}}))
	if other == got {
		t.Errorf("keys of different values are equal: %q", got)
	}

	for _, h := range []http.Header{nil, {"X-Api-Key": {""}}} {
		if _, err := key(request("192.0.2.1:1", h)); !errors.Is(err, ratelimit.ErrMissingKey) {
			t.Errorf("key with header %v: got error %v, want ErrMissingKey", h, err)
		}
	}
}

func TestKeyFromContext(t *testing.T) {
	r := request("192.0.2.1:1", nil)
	if _, err := ratelimit.KeyFromContext(r); !errors.Is(err, ratelimit.ErrMissingKey) {
		t.Errorf("KeyFromContext without a key: got error %v, want ErrMissingKey", err)
	}
	r = r.WithContext(ratelimit.WithKey(r.Context(), "user-42"))
	got, err := ratelimit.KeyFromContext(r)
	if err != nil || got != "user-42" {
		t.Errorf("KeyFromContext: got %q, %v, want user-42", got, err)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "6.6.6.6, 203.0.113.9, 10.0.0.2", `for=6.6.6.6, for="[2001:db8::17]:4711"`, false)
	f.Add("10.0.0.1:1", "[::ffff:1.2.3.4]:80,unknown", `for="\[::1\]";by=x, for=_x`, true)
	f.Add("[fd00::1]:1", "fe80::1%eth0, 10.9.9.9", `For="1.2.3.4:5", ,for=10.1.1.1`, true)
	f.Add("198.51.100.1:1", "", "", false)

	trusted := ratelimit.TrustProxies(proxyNet, netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::ffff:10.0.0.0/104"))
	f.Fuzz(func(t *testing.T, remoteAddr, xff, fwd string, useForwarded bool) {
		remote, err := ratelimit.ClientIP(request(remoteAddr, nil))
		if err != nil {
			// An invalid RemoteAddr fails whatever the forwarding
			// fields contain.
			if _, err := ratelimit.ClientIP(request(remoteAddr, http.Header{"X-Forwarded-For": {xff}}), trusted); err == nil {
				t.Errorf("RemoteAddr %q: error without fields, none with them", remoteAddr)
			}
			return
		}

		opts := []ratelimit.IPOption{trusted}
		field := xff
		if useForwarded {
			opts = append(opts, ratelimit.UseForwardedHeader())
			field = fwd
		}
		r := request(remoteAddr, http.Header{"X-Forwarded-For": {xff}, "Forwarded": {fwd}})
		got, err := ratelimit.ClientIP(r, opts...)
		if err != nil {
			t.Fatalf("ClientIP: %v", err)
		}
		if got != remote && !addressInText(got, field) {
			t.Errorf("ClientIP: got %s, which is neither RemoteAddr %s nor in the field %q", got, remote, field)
		}
	})
}

// addressInText reports whether some substring of text, with quoted-string
// escapes removed, parses as addr once IPv4-mapped addresses are unmapped
// and zones dropped.
func addressInText(addr netip.Addr, text string) bool {
	text = strings.ReplaceAll(text, `\`, "")
	if len(text) > 512 {
		return true // too long to search; the walk itself still ran
	}
	for i := 0; i < len(text); i++ {
		for j := i + 1; j <= len(text) && j-i <= 64; j++ {
			a, err := netip.ParseAddr(text[i:j])
			if err == nil && a.Unmap().WithZone("") == addr {
				return true
			}
		}
	}
	return false
}
