package gateway

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/trestlehq/trestle/auth"
)

// clientLimits bounds what each client may ask per minute: requests, and
// the complexity (see Limits) of its operations. A client is its principal
// (API key or token subject), or its address when anonymous.
type clientLimits struct {
	requests, complexity int            // per minute; 0 for no bound
	proxies              []netip.Prefix // whose X-Forwarded-For names the client

	mu        sync.Mutex
	clients   map[string]*clientBudget
	lastSweep time.Time
}

// clientBudget is one client's buckets, each refilling over a minute.
type clientBudget struct {
	requests, complexity *rate.Limiter // nil when not bounded
	seen                 time.Time
}

type clientBudgetKey struct{}

func newClientLimits(requests, complexity int, proxies []netip.Prefix) *clientLimits {
	return &clientLimits{requests: requests, complexity: complexity, proxies: proxies, clients: map[string]*clientBudget{}}
}

// budget returns a client's buckets, making them on its first request;
// clients idle for ten minutes (their buckets full again) are forgotten.
func (c *clientLimits) budget(key string, now time.Time) *clientBudget {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastSweep) > time.Minute {
		for k, b := range c.clients {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(c.clients, k)
			}
		}
		c.lastSweep = now
	}
	b, ok := c.clients[key]
	if !ok {
		b = &clientBudget{}
		if c.requests > 0 {
			b.requests = rate.NewLimiter(rate.Limit(float64(c.requests)/60), c.requests)
		}
		if c.complexity > 0 {
			b.complexity = rate.NewLimiter(rate.Limit(float64(c.complexity)/60), c.complexity)
		}
		c.clients[key] = b
	}
	b.seen = now
	return b
}

// middleware answers 429 with Retry-After to a client over its budget.
func (c *clientLimits) middleware(next http.Handler) http.Handler {
	if c.requests <= 0 && c.complexity <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		b := c.budget(c.clientKey(r), now)
		if b.requests != nil {
			if res := b.requests.ReserveN(now, 1); res.DelayFrom(now) > 0 {
				res.CancelAt(now)
				tooMany(w, res.DelayFrom(now), fmt.Sprintf("more than %d requests a minute", c.requests))
				return
			}
		}
		if b.complexity != nil {
			if debt := -b.complexity.TokensAt(now); debt > 0 {
				tooMany(w, time.Duration(debt/float64(b.complexity.Limit())*float64(time.Second)),
					fmt.Sprintf("operations of more than %d complexity a minute", c.complexity))
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientBudgetKey{}, b)))
	})
}

// charge takes an operation's complexity from its client's budget; the
// budget may go below zero, and the client's next request waits it out.
func charge(ctx context.Context, complexity int) {
	b, _ := ctx.Value(clientBudgetKey{}).(*clientBudget)
	if b == nil || b.complexity == nil {
		return
	}
	b.complexity.ReserveN(time.Now(), min(complexity, b.complexity.Burst()))
}

func (c *clientLimits) clientKey(r *http.Request) string {
	if p := auth.From(r.Context()); p != nil && p.Name != "anonymous" {
		return "principal:" + p.Name
	}
	return "address:" + c.clientAddress(r)
}

// clientAddress is the address a request came from: its peer's, or, when
// the peer is a trusted proxy, the last address in X-Forwarded-For that is
// not one (each proxy appends the address it was called from; what comes
// before a trusted one cannot be trusted).
func (c *clientLimits) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !c.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			return host // a hop that is no address: nothing before it can be read
		}
		if !c.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (c *clientLimits) trusted(host string) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range c.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func tooMany(w http.ResponseWriter, wait time.Duration, what string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("rate limited: %s; retry after %ds", what, max(secs, 1)), "RATE_LIMITED")
}
