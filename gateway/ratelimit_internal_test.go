package gateway

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientAddressBehindTrustedProxies(t *testing.T) {
	c := newClientLimits(0, 0, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, tc := range []struct {
		peer, forwarded, want string
	}{
		{"203.0.113.9:4000", "198.51.100.1", "203.0.113.9"},           // not a proxy: its header is the client's say
		{"10.0.0.1:4000", "203.0.113.7", "203.0.113.7"},               // a proxy names the client
		{"10.0.0.1:4000", "198.51.100.1, 203.0.113.7", "203.0.113.7"}, // what the client sent before it is not trusted
		{"10.0.0.1:4000", "203.0.113.7, 10.0.0.2", "203.0.113.7"},     // two proxies
		{"10.0.0.1:4000", "", "10.0.0.1"},                             // a proxy naming nobody
		{"10.0.0.1:4000", "203.0.113.7, not-an-address", "10.0.0.1"},  // nothing before a hop that cannot be read
		{"[::1]:4000", "2001:db8::7", "2001:db8::7"},                  // IPv6
		{"[::ffff:10.0.0.1]:4000", "203.0.113.7", "203.0.113.7"},      // IPv4 mapped into IPv6
		{"10.0.0.1:4000", "10.0.0.3, 10.0.0.2", "10.0.0.3"},           // all proxies: the first
	} {
		r, _ := http.NewRequest(http.MethodPost, "/query", nil)
		r.RemoteAddr = tc.peer
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := c.clientAddress(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", tc.peer, tc.forwarded, got, tc.want)
		}
	}
}
