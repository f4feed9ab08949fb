package rest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, h http.Handler, mod func(*rest.Config)) *rest.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := rest.Config{System: model.SystemShop, BaseURL: srv.URL + "/api", Auth: rest.Basic("ck_secret_key", "cs_secret"), Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := rest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestDoClassifiesFailures(t *testing.T) {
	const secretBody = `{"message":"user anna@example.com not allowed","key":"ck_secret_key"}`
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		accept     []int
		class      error
		status     int
		retryAfter time.Duration
		timeout    time.Duration
	}{
		{name: "not found", handler: status(404, secretBody), class: rest.ErrNotFound, status: 404},
		{name: "unauthorized", handler: status(401, secretBody), class: rest.ErrUnauthorized, status: 401},
		{name: "forbidden", handler: status(403, secretBody), class: rest.ErrUnauthorized, status: 403},
		{name: "server error", handler: status(500, secretBody), class: rest.ErrUnavailable, status: 500},
		{name: "bad gateway", handler: status(502, "<html>"), class: rest.ErrUnavailable, status: 502},
		{name: "bad request", handler: status(400, secretBody), class: rest.ErrBadResponse, status: 400},
		{name: "partial result not accepted", handler: status(207, `{}`), class: rest.ErrBadResponse, status: 207},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		}, class: rest.ErrBadResponse, status: 302},
		{name: "rate limited in seconds", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, class: rest.ErrRateLimited, status: 429, retryAfter: 7 * time.Second},
		{name: "rate limited without hint uses dialect hint", handler: status(429, `{}`), class: rest.ErrRateLimited, status: 429, retryAfter: 10 * time.Second},
		{name: "malformed JSON", handler: status(200, `{"id": 1,,}`), class: rest.ErrBadResponse, status: 200},
		{name: "wrong JSON type", handler: status(200, `{"id": "one"}`), class: rest.ErrBadResponse, status: 200},
		{name: "HTML instead of JSON", handler: status(200, `<html>Error establishing a database connection</html>`), class: rest.ErrBadResponse, status: 200},
		{name: "trailing garbage", handler: status(200, `{"id": 1} {"id": 2}`), class: rest.ErrBadResponse, status: 200},
		{name: "truncated body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte(`{"id": 1, "na`))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, class: rest.ErrUnavailable, status: 200},
		{name: "slow upstream times out", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, class: rest.ErrUnavailable, timeout: 50 * time.Millisecond},
		{name: "connection reset", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}, class: rest.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.handler, func(cfg *rest.Config) {
				cfg.RetryHint = func(http.Header) time.Duration { return 10 * time.Second }
				if tt.timeout > 0 {
					cfg.Timeout = tt.timeout
				}
			})
			var out struct{ ID int }
			_, err := c.Do(context.Background(), rest.Call{Route: "orders.by_id", Path: "/orders", Accept: tt.accept}, &out)
			var re *rest.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *rest.Error", err)
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("err = %v, want class %v", err, tt.class)
			}
			if re.Status != tt.status {
				t.Errorf("status = %d, want %d", re.Status, tt.status)
			}
			if re.Timeout != (tt.timeout > 0) {
				t.Errorf("timeout = %v, want %v", re.Timeout, tt.timeout > 0)
			}
			if re.RetryAfter != tt.retryAfter {
				t.Errorf("retry after = %v, want %v", re.RetryAfter, tt.retryAfter)
			}
			if re.System != model.SystemShop || re.Route != "orders.by_id" {
				t.Errorf("error names %s %s, want shop orders.by_id", re.System, re.Route)
			}
			for _, leak := range []string{"anna@example.com", "ck_secret_key", "cs_secret", "127.0.0.1", "database"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks %q", err, leak)
				}
			}
		})
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func TestDoRetryAfterAsDate(t *testing.T) {
	when := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", when)
		w.WriteHeader(429)
	}), nil)
	_, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil)
	var re *rest.Error
	if !errors.As(err, &re) || re.RetryAfter < 25*time.Second || re.RetryAfter > 31*time.Second {
		t.Fatalf("err = %v, want a retry hint of about 30s", err)
	}
}

func TestDoSendsRequest(t *testing.T) {
	tests := []struct {
		name       string
		auth       rest.Auth
		call       rest.Call
		wantAuth   string
		wantMethod string
		wantURL    string
		wantBody   string
	}{
		{
			name:       "basic auth and query",
			auth:       rest.Basic("ck_demo", "cs_demo"),
			call:       rest.Call{Route: "orders.list", Path: "/orders", Query: map[string][]string{"include": {"1,2"}, "per_page": {"100"}}},
			wantAuth:   "Basic Y2tfZGVtbzpjc19kZW1v",
			wantMethod: "GET",
			wantURL:    "/api/orders?include=1%2C2&per_page=100",
		},
		{
			name:       "bearer and JSON body",
			auth:       rest.Bearer("pat-demo"),
			call:       rest.Call{Route: "contacts.batch_read", Method: "POST", Path: "/batch/read", Body: map[string]any{"inputs": []map[string]string{{"id": "1"}}}},
			wantAuth:   "Bearer pat-demo",
			wantMethod: "POST",
			wantURL:    "/api/batch/read",
			wantBody:   `{"inputs":[{"id":"1"}]}`,
		},
		{
			name:       "frappe token",
			auth:       rest.Token("demo", "demo"),
			call:       rest.Call{Route: "bins.list", Path: "/resource/Bin"},
			wantAuth:   "token demo:demo",
			wantMethod: "GET",
			wantURL:    "/api/resource/Bin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			var body string
			c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				b, _ := io.ReadAll(r.Body)
				body = string(b)
				w.WriteHeader(207)
				_, _ = w.Write([]byte(`{"ok":true}`))
			}), func(cfg *rest.Config) { cfg.Auth = tt.auth })
			tt.call.Accept = []int{207}
			var out struct{ OK bool }
			resp, err := c.Do(context.Background(), tt.call, &out)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 207 || !out.OK {
				t.Errorf("status %d, decoded %+v", resp.Status, out)
			}
			if got.Header.Get("Authorization") != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got.Header.Get("Authorization"), tt.wantAuth)
			}
			if got.Method != tt.wantMethod || got.URL.RequestURI() != tt.wantURL {
				t.Errorf("request %s %s, want %s %s", got.Method, got.URL.RequestURI(), tt.wantMethod, tt.wantURL)
			}
			if body != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if len(got.TransferEncoding) != 0 || got.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("sent with Transfer-Encoding %q and Content-Length %d, want none and %d", got.TransferEncoding, got.ContentLength, len(tt.wantBody))
			}
		})
	}
}

func TestDoCallerCancelIsNotAnUpstreamFailure(t *testing.T) {
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := c.Do(ctx, rest.Call{Route: "x", Path: "/x"}, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, rest.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
}

func TestDoBodyLimit(t *testing.T) {
	c := newClient(t, status(200, `{"id":"`+strings.Repeat("x", 2000)+`"}`), func(cfg *rest.Config) { cfg.MaxBody = 1000 })
	_, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, &struct{}{})
	if !errors.Is(err, rest.ErrBadResponse) {
		t.Fatalf("err = %v, want bad response", err)
	}
}

func TestDoReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(status(200, `{}`))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := rest.New(rest.Config{System: model.SystemCRM, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 20 {
		if _, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/"}, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential calls opened %d connections, want 1", n)
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "localhost:8080", "ftp://x/", "http://"} {
		if _, err := rest.New(rest.Config{System: model.SystemERP, BaseURL: base}); err == nil {
			t.Errorf("New(%q) succeeded, want an error", base)
		}
	}
}
