package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// playgroundFiles are the playground's page, script and style, and under
// vendor/ the GraphiQL, React and graphql-ws builds they run, with their
// licences: copied from the npm packages that gateway/playground's lock
// file pins (npm run vendor there), so the page needs no CDN.
//
//go:embed playground/static
var playgroundFiles embed.FS

// playgroundPolicy keeps the page to the gateway: scripts, styles and
// calls from its own origin only. Fonts and icons are data: URLs in
// GraphiQL's stylesheet; its dialogs apply inline styles.
const playgroundPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handlePlayground serves the GraphiQL playground: the page at GET /, its
// assets under /playground/<version>/. The version is a digest of the
// files, so the assets can be cached for good and a new build still
// reaches every browser.
func handlePlayground(mux *http.ServeMux) {
	static, err := fs.Sub(playgroundFiles, "playground/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	// The assets are served from the binary's own data, not copied onto
	// the heap (1.5 MB, which GOGC=400 would make 7.5 MB of peak memory).
	assets := map[string]bool{}
	digest := sha256.New()
	err = fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := static.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		assets[name] = true
		digest.Write([]byte(name))
		_, err = io.Copy(digest, f)
		return err
	})
	if err != nil {
		panic(err)
	}
	version := hex.EncodeToString(digest.Sum(nil))[:16]

	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		panic(err)
	}
	var page bytes.Buffer
	tmpl := template.Must(template.New("index.html").Parse(string(index)))
	if err := tmpl.Execute(&page, "playground/"+version+"/"); err != nil {
		panic(err)
	}
	delete(assets, "index.html") // a template, not an asset

	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", playgroundPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page.Bytes()))
	})
	mux.HandleFunc("GET /playground/{version}/{file...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if !assets[name] {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType(name))
		h.Set("X-Content-Type-Options", "nosniff")
		if r.PathValue("version") == version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// A page from before the gateway was upgraded: this build's
			// file, but not to be kept under that version.
			h.Set("Cache-Control", "no-cache")
		}
		f, err := static.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, f.(io.ReadSeeker))
	})
}

// contentType is an asset's media type, fixed here rather than read from
// the system's MIME tables, which differ between hosts.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8" // the licences
}
