package ratelimit

import (
	"net/netip"
	"strings"
)

// hop is one element of a forwarding field: the address a proxy received
// the request from, or ok == false when the element held no usable address.
type hop struct {
	addr netip.Addr
	ok   bool
}

// appendForwardedForHops appends the elements of one X-Forwarded-For field
// line, such as "203.0.113.7, 10.0.0.2", to hops. Empty elements are
// skipped, as HTTP list syntax allows them.
func appendForwardedForHops(hops []hop, line string) []hop {
	for line != "" {
		var elem string
		elem, line, _ = strings.Cut(line, ",")
		if strings.TrimSpace(elem) == "" {
			continue
		}
		addr, ok := parseNode(elem)
		hops = append(hops, hop{addr: addr, ok: ok})
	}
	return hops
}

// appendForwardedHops appends the for= node of each element of one
// Forwarded field line (RFC 7239), such as
// `for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`, to hops. An
// element without exactly one for= parameter has no usable address.
func appendForwardedHops(hops []hop, line string) []hop {
	for line != "" {
		var elem string
		elem, line = cutOutsideQuotes(line, ',')
		if strings.TrimSpace(elem) == "" {
			continue
		}
		hops = append(hops, forwardedElementHop(elem))
	}
	return hops
}

// forwardedElementHop returns the for= node of one Forwarded element.
func forwardedElementHop(elem string) hop {
	node, found := "", false
	for elem != "" {
		var pair string
		pair, elem = cutOutsideQuotes(elem, ';')
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
			continue
		}
		if found {
			return hop{}
		}
		node, found = unquote(strings.TrimSpace(value)), true
	}
	if !found {
		return hop{}
	}
	addr, ok := parseNode(node)
	return hop{addr: addr, ok: ok}
}

// cutOutsideQuotes slices s around the first sep that is not inside a
// quoted string.
func cutOutsideQuotes(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote returns the content of a quoted string with its escapes removed,
// or s itself when it is not quoted.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseNode parses an address with an optional port, in the forms that
// RemoteAddr and forwarding fields use: "192.0.2.1", "192.0.2.1:80",
// "2001:db8::1", "[2001:db8::1]" and "[2001:db8::1]:80". The port is not
// checked, because Forwarded allows obfuscated ones. IPv4-mapped addresses
// become IPv4, and zones are dropped.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}

	if s[0] == '[' {
		host, rest, ok := strings.Cut(s[1:], "]")
		if !ok || (rest != "" && rest[0] != ':') {
			return netip.Addr{}, false
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() {
			return netip.Addr{}, false
		}
		return normalizeAddr(addr), true
	}

	// An IPv4 address with a port has exactly one colon, and every IPv6
	// address has at least two. Testing for it first spares a failed
	// ParseAddr, which allocates its error, for the usual RemoteAddr.
	if host, port, ok := strings.Cut(s, ":"); ok && !strings.Contains(port, ":") {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is4() {
			return netip.Addr{}, false
		}
		return addr, true
	}

	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalizeAddr(addr), true
}

func normalizeAddr(addr netip.Addr) netip.Addr {
	return addr.Unmap().WithZone("")
}
