package hubspot

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryHint(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"window spent", map[string]string{"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10 * time.Second},
		{"room left", map[string]string{"X-HubSpot-RateLimit-Remaining": "12", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, time.Second},
		{"no headers, as from search", nil, time.Second},
		{"garbage", map[string]string{"X-HubSpot-RateLimit-Remaining": "none", "X-HubSpot-RateLimit-Interval-Milliseconds": "x"}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := retryHint(h); got != tt.want {
				t.Errorf("retryHint = %v, want %v", got, tt.want)
			}
		})
	}
}
