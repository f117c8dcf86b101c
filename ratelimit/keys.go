package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
)

// KeyFunc returns the rate-limit key of a request: the client or user that
// spends. An error means that the request cannot be limited, so Middleware
// responds with status 400.
type KeyFunc func(*http.Request) (string, error)

type ipConfig struct {
	trusted []netip.Prefix

	// header is the forwarding field believed from trusted proxies.
	header string

	// ipv6Bits is the prefix length that KeyByIP keys IPv6 clients by.
	ipv6Bits int
}

func newIPConfig(opts []IPOption) ipConfig {
	cfg := ipConfig{header: headerXForwardedFor, ipv6Bits: 128}
	for _, o := range opts {
		o.applyIP(&cfg)
	}
	return cfg
}

const (
	headerXForwardedFor = "X-Forwarded-For"
	headerForwarded     = "Forwarded"
)

// TrustProxies returns an option that believes the forwarding field of a
// request whose RemoteAddr is in one of prefixes. By default no proxy is
// trusted, so a client cannot pick its own key by sending the field.
// IPv4-mapped IPv6 addresses and prefixes are compared as IPv4. Invalid
// prefixes are ignored.
func TrustProxies(prefixes ...netip.Prefix) IPOption {
	masked := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		masked = append(masked, p.Masked())
	}
	return ipOptionFunc(func(c *ipConfig) { c.trusted = append(c.trusted, masked...) })
}

// UseForwardedHeader returns an option that reads the client address from
// the Forwarded field of RFC 7239 instead of X-Forwarded-For. Choose the one
// field that your proxies set: a client can send the other one, and the
// proxy passes it on unchanged.
func UseForwardedHeader() IPOption {
	return ipOptionFunc(func(c *ipConfig) { c.header = headerForwarded })
}

// GroupIPv6 returns an option that makes KeyByIP key an IPv6 client by its
// first bits bits, such as 64: one host often owns a whole /64 and could
// otherwise spend the limit once per address. It panics if bits is not in 0
// to 128.
func GroupIPv6(bits int) IPOption {
	if bits < 0 || bits > 128 {
		panic(fmt.Sprintf("ratelimit: GroupIPv6(%d): prefix length must be 0 to 128", bits))
	}
	return ipOptionFunc(func(c *ipConfig) { c.ipv6Bits = bits })
}

// ClientIP returns the address of the client that sent r.
//
// When RemoteAddr is not a trusted proxy (see TrustProxies), it is the
// client. When it is, ClientIP walks the forwarding field from the right,
// because each proxy appends the address it received the request from, and
// returns the first address that is not a trusted proxy. An element that is
// not an address (such as "unknown" or an obfuscated node in Forwarded) stops
// the walk, and the last trusted hop before it is returned, because nothing
// to its left can be believed. When every hop is trusted, the leftmost one
// is returned. IPv4-mapped addresses are returned as IPv4, and zones are
// dropped.
//
// It returns an error when RemoteAddr is not an IP address with an optional
// port, as with a Unix socket listener.
func ClientIP(r *http.Request, opts ...IPOption) (netip.Addr, error) {
	cfg := newIPConfig(opts)
	return cfg.clientIP(r)
}

// KeyByIP returns a KeyFunc that keys requests by ClientIP, as the
// address's text form, or as a prefix such as "2001:db8:1:2::/64" with
// GroupIPv6.
func KeyByIP(opts ...IPOption) KeyFunc {
	cfg := newIPConfig(opts)
	return func(r *http.Request) (string, error) {
		addr, err := cfg.clientIP(r)
		if err != nil {
			return "", err
		}
		if addr.Is6() && cfg.ipv6Bits < 128 {
			p, err := addr.Prefix(cfg.ipv6Bits)
			if err != nil {
				return "", fmt.Errorf("ratelimit: group %s: %w", addr, err)
			}
			return p.String(), nil
		}
		return addr.String(), nil
	}
}

// KeyByHeader returns a KeyFunc that keys requests by the value of the
// header field name, such as an API key. The key is the first 16 bytes of
// the value's SHA-256 hash, in hex, so that the limiter's memory and any
// statistics never hold the secret itself. It returns an error wrapping
// ErrMissingKey when the field is missing or empty.
func KeyByHeader(name string) KeyFunc {
	canonical := http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		v := r.Header.Get(canonical)
		if v == "" {
			return "", fmt.Errorf("ratelimit: header %s: %w", canonical, ErrMissingKey)
		}
		sum := sha256.Sum256([]byte(v))
		return hex.EncodeToString(sum[:16]), nil
	}
}

type keyContextKey struct{}

// WithKey returns a copy of ctx that carries key, for KeyFromContext. An
// authentication middleware that runs before the rate limit can store the
// user's id this way.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyContextKey{}, key)
}

// KeyFromContext is a KeyFunc that returns the key stored in the request's
// context by WithKey. It returns an error wrapping ErrMissingKey when there
// is none, or when it is empty.
func KeyFromContext(r *http.Request) (string, error) {
	key, _ := r.Context().Value(keyContextKey{}).(string)
	if key == "" {
		return "", fmt.Errorf("ratelimit: request context: %w", ErrMissingKey)
	}
	return key, nil
}

// clientIP implements ClientIP.
func (c *ipConfig) clientIP(r *http.Request) (netip.Addr, error) {
	client, ok := parseNode(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("ratelimit: client address: RemoteAddr %q is not an IP address", r.RemoteAddr)
	}
	if !c.isTrusted(client) {
		return client, nil
	}

	values := r.Header.Values(c.header)
	if len(values) == 0 {
		return client, nil
	}
	var hops []hop
	for _, v := range values {
		if c.header == headerForwarded {
			hops = appendForwardedHops(hops, v)
		} else {
			hops = appendForwardedForHops(hops, v)
		}
	}

	for i := len(hops) - 1; i >= 0 && c.isTrusted(client); i-- {
		if !hops[i].ok {
			break
		}
		client = hops[i].addr
	}
	return client, nil
}

func (c *ipConfig) isTrusted(addr netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
