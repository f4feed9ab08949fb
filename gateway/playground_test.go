package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/trestlehq/trestle/config"
)

// TestPlaygroundAssets checks how the page and its assets are served: the
// page is asked for again each time, under a policy that keeps it to the
// gateway; the assets, named by a version, are kept for good.
func TestPlaygroundAssets(t *testing.T) {
	g := startLive(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, page := get("/")
	if h := resp.Header; resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" ||
		h.Get("Cache-Control") != "no-cache" || !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("GET /: HTTP %d %v", resp.StatusCode, h)
	}
	// Relative URLs, so the page works behind a proxy that adds a prefix.
	m := regexp.MustCompile(`src="(playground/[0-9a-f]+/)vendor/react/react.production.min.js"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page names no versioned assets:\n%s", page)
	}
	assets := "/" + m[1]
	const forGood = "public, max-age=31536000, immutable"
	for _, tc := range []struct {
		name, path, contentType, cache string
		status                         int
	}{
		{"script", assets + "vendor/graphiql/graphiql.min.js", "text/javascript; charset=utf-8", forGood, http.StatusOK},
		{"style", assets + "playground.css", "text/css; charset=utf-8", forGood, http.StatusOK},
		{"licence", assets + "vendor/graphiql/LICENSE", "text/plain; charset=utf-8", forGood, http.StatusOK},
		// A page from before an upgrade gets this build's file, not to be
		// kept under its version.
		{"another version", "/playground/0123456789abcdef/playground.js", "text/javascript; charset=utf-8", "no-cache", http.StatusOK},
		{"the page's template", assets + "index.html", "", "", http.StatusNotFound},
		{"missing", assets + "vendor/graphiql/graphiql.min.js.map", "", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: HTTP %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
			if h := resp.Header; tc.status == http.StatusOK && (h.Get("Content-Type") != tc.contentType ||
				h.Get("Cache-Control") != tc.cache || h.Get("X-Content-Type-Options") != "nosniff") {
				t.Errorf("GET %s: headers %v, want %s and %s", tc.path, h, tc.contentType, tc.cache)
			}
		})
	}
}

// TestPlaygroundVendoredFilesMatchTheLockFile installs the packages that
// gateway/playground's lock file pins and checks that the files vendor.json
// names were copied from them unchanged, and that nothing else is vendored.
func TestPlaygroundVendoredFilesMatchTheLockFile(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("npm is needed to check the playground's files against its lock file: %v", err)
	}
	install := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts")
	install.Dir = "playground"
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	var pkg struct{ Dependencies map[string]string }
	readJSONFile(t, "playground/package.json", &pkg)
	var vendored map[string][]string
	readJSONFile(t, "playground/vendor.json", &vendored)

	want := map[string]bool{}
	for name, files := range vendored {
		pinned := pkg.Dependencies[name]
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(pinned) {
			t.Errorf("package.json pins %s at %q, want an exact version", name, pinned)
		}
		var installed struct{ Version string }
		readJSONFile(t, filepath.Join("playground/node_modules", name, "package.json"), &installed)
		if installed.Version != pinned {
			t.Errorf("npm ci installed %s@%s, package.json pins %s", name, installed.Version, pinned)
		}
		for _, f := range files {
			copied := filepath.Join("playground/static/vendor", name, path.Base(f))
			want[copied] = true
			if a, b := digest(t, filepath.Join("playground/node_modules", name, f)), digest(t, copied); a != b {
				t.Errorf("%s differs from %s in %s@%s: run npm run vendor in gateway/playground", copied, f, name, installed.Version)
			}
		}
	}
	err := filepath.WalkDir("playground/static/vendor", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !want[p] {
			t.Errorf("%s is vendored but vendor.json does not name it", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readJSONFile(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func digest(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestPlaygroundInABrowser opens the playground in headless Chromium that
// can reach the gateway and nothing else, and uses it as a person would:
// adds the API key under Headers, runs the first example query, then the
// example subscription, and reads what the result pane shows.
func TestPlaygroundInABrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the playground's browser test needs Chromium: apt-get install chromium (%v)", err)
	}
	const key = "trk_playground"
	g := startLive(t, func(c *config.Config) {
		c.Introspection = true
		c.Auth = config.Auth{APIKeys: []config.APIKey{{Name: "playground", SHA256: sha256Hex(key), Roles: []string{"FINANCE"}}}}
	})
	gatewayHost := strings.TrimPrefix(g.url, "http://")
	newest := newestOrder(t, g.url, key)

	// Every request for another host goes to this proxy, which answers
	// none, and no host name resolves: the page has the gateway (on a
	// loopback address, which Chromium reaches without its proxy) or
	// nothing.
	proxy := refusingProxy(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.ProxyServer("http://"+proxy),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1400, 1000),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root (as CI does) with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)

	var mu sync.Mutex
	var requests, problems []string
	err = chromedp.Listen(browser, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *network.EventWebSocketCreated:
			requests = append(requests, ev.URL)
		case *cdplog.EventEntryAdded:
			// Network errors are the answers' statuses: the 401s before
			// the key is in, the favicon's 404. Any other, such as a
			// refusal by the page's Content-Security-Policy, is a fault.
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				problems = append(problems, fmt.Sprintf("%s: %s", ev.Entry.Source, ev.Entry.Text))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("%s %s", ev.ExceptionDetails.Text, describeException(ev.ExceptionDetails)))
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// Screenshots of what a person would see go to the test's artifact
	// directory: go test -artifacts keeps them.
	screenshot := func(name string) {
		if b, err := chromedp.Run(browser, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), b, 0o644)
		}
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			screenshot("failed")
			t.Fatalf("%s: %v (a screenshot is in %s)", what, err, t.ArtifactDir())
		}
	}
	// shows waits until the element shows every text.
	shows := func(what, selector string, texts ...string) {
		t.Helper()
		sel, _ := json.Marshal(selector)
		want, _ := json.Marshal(texts)
		el := `document.querySelector(` + string(sel) + `)`
		step(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`!!`+el+` && `+string(want)+`.every(s => `+el+`.innerText.includes(s))`,
				chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			if err != nil {
				text, _ := chromedp.Evaluate[string](`(`+el+` || document.body).innerText`)(ctx, tg)
				return chromedp.Void{}, fmt.Errorf("%w; %s shows:\n%s", err, selector, text)
			}
			return chromedp.Void{}, nil
		})
	}
	resultShows := func(what string, texts ...string) { t.Helper(); shows(what, ".result-window", texts...) }
	run := chromedp.Click(chromedp.CSS(".graphiql-execute-button"), chromedp.NodeVisible)

	step("open the playground", chromedp.Navigate(g.url+"/"),
		chromedp.WaitVisible(tab("NewestOrders")), chromedp.WaitVisible(tab("StockChanges")))
	// The schema came back 401 without the key; with it, GraphiQL asks
	// again and its docs show the root types.
	step("add the key under Headers", headers(key))
	step("open the docs", chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`), chromedp.NodeVisible))
	shows("the schema's root types", ".graphiql-doc-explorer", "query: Query", "subscription: Subscription")
	step("run the newest orders", run)
	resultShows("the newest orders", `"number": "`+newest+`"`, `"totalCount"`)
	screenshot("query")

	step("open the subscription's tab", chromedp.Click(tab("StockChanges"), chromedp.NodeVisible), headers(key))
	step("run the subscription", run)
	waitFor(t, "the subscription is in place", func() bool { return g.executions(t) == 1 })
	p := g.env.Sim.World.Products[2]
	g.moveStock(t, p, 77)
	resultShows("the stock change", `"sku": "`+p.SKU+`"`, `"onHand": "77"`)
	screenshot("subscription")
	step("stop the subscription", run)
	waitFor(t, "the subscription has ended", func() bool { return g.executions(t) == 0 })

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("the page reported: %s", p)
	}
	sawSocket := false
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || u.Host != gatewayHost && u.Scheme != "data" { // data: URLs are GraphiQL's fonts
			t.Errorf("the page asked for %.100s; it may ask only the gateway at %s", r, gatewayHost)
		}
		sawSocket = sawSocket || r == "ws://"+gatewayHost+"/query"
	}
	if len(requests) < 8 || !sawSocket {
		t.Errorf("the browser saw the page ask for %d URLs (a WebSocket to /query among them: %t), want the page, its 7 assets and a WebSocket to /query at least",
			len(requests), sawSocket)
	}
}

// newestOrder is the number of the order the orders query lists first.
func newestOrder(t *testing.T, url, key string) string {
	t.Helper()
	status, r := post(t, url, key, `{ orders(first: 1) { edges { node { number } } } }`)
	var data struct {
		Orders struct {
			Edges []struct{ Node struct{ Number string } }
		}
	}
	if err := json.Unmarshal(r.Data, &data); status != http.StatusOK || err != nil || len(data.Orders.Edges) != 1 {
		t.Fatalf("HTTP %d %s %+v", status, r.Data, r.Errors)
	}
	return data.Orders.Edges[0].Node.Number
}

// tab is GraphiQL's tab of an operation, by the name it shows.
func tab(name string) chromedp.Search {
	return chromedp.Search(`//button[contains(@class, "graphiql-tab-button")][normalize-space(.)="` + name + `"]`)
}

// headers types into the headers editor of the open tab what a person
// would: its JSON with the API key.
func headers(key string) chromedp.Action[chromedp.Void] {
	editor := chromedp.CSS(`.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror textarea`)
	return chromedp.Steps(
		chromedp.Click(chromedp.CSS(`.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror`), chromedp.NodeVisible),
		chromedp.SendKeys(editor, `{"X-API-Key": "`+key+`"}`),
	)
}

// waitFor waits, generously for a busy machine, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 30s: %s", what)
		}
	}
}

func describeException(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return fmt.Sprintf("at %s:%d", d.URL, d.LineNumber)
}

// refusingProxy is the address of an HTTP proxy that forwards nothing: it
// closes every connection as it comes.
func refusingProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				conn.Close()
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}
