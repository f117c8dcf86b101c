package analytics

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// Defaults for the optional fields of DashboardConfig.
const (
	// DefaultAPIPath is where the dashboard fetches the snapshot when
	// DashboardConfig leaves APIPath empty.
	DefaultAPIPath = "/api/analytics"
	// DefaultRefreshInterval is how often the dashboard fetches a new
	// snapshot when DashboardConfig leaves RefreshInterval zero.
	DefaultRefreshInterval = 30 * time.Second
)

// dashboardCSP allows the page to load only its own script, style sheet and
// API responses, so a provider's error message that contains markup cannot
// run or load anything even if it reached the DOM as HTML.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed dashboard/index.html dashboard/app.js dashboard/style.css
var dashboardFiles embed.FS

var dashboardPage = template.Must(template.ParseFS(dashboardFiles, "dashboard/index.html"))

// dashboardAssets maps the values of the asset query parameter to the
// embedded files and their content types.
var dashboardAssets = map[string]struct{ file, contentType string }{
	"app.js":    {"dashboard/app.js", "text/javascript; charset=utf-8"},
	"style.css": {"dashboard/style.css", "text/css; charset=utf-8"},
}

// DashboardConfig configures Dashboard. The zero value serves a dashboard
// that reads DefaultAPIPath.
type DashboardConfig struct {
	// APIPath is the URL path where Handler is mounted. It must be on the
	// same origin as the dashboard, because the page's Content-Security-
	// Policy allows no other. Default: DefaultAPIPath ("/api/analytics").
	APIPath string

	// RefreshInterval is how often the page fetches a new snapshot while
	// it is visible. Values under one second count as one second.
	// Default: DefaultRefreshInterval (30s).
	RefreshInterval time.Duration

	// Authorize decides whether the page and its files are served. The page
	// contains no data, because Handler serves the data under its own
	// Authorize, but it shows a visitor the API path. Default: nil, which
	// serves every request.
	Authorize func(*http.Request) bool
}

// Dashboard returns an http.Handler that serves the analytics dashboard: one
// HTML page, whose script fetches the JSON of Handler from cfg.APIPath and
// refreshes it periodically without reloading the page. It shows the totals
// of a window picked on the page, and charts of spend, tokens, calls,
// failures and latency percentiles over time. Breakdowns by model, endpoint
// and caller key follow, each row a link that filters the page to it, then
// error categories, recent errors and rate-limit rejections. The charts are
// SVG built with DOM calls, and every name and message from callers and
// providers is set as text, never parsed as HTML.
//
// The page, its script and its style sheet are embedded in the binary and
// load nothing from elsewhere. The script and style sheet are served by the
// same handler at ?asset=app.js and ?asset=style.css, relative to the
// page's own path, so the handler works at any mount point. Every response
// has a strict Content-Security-Policy. Methods other than GET and HEAD get
// 405, and requests that cfg.Authorize rejects get 403.
func Dashboard(cfg DashboardConfig) http.Handler {
	if cfg.APIPath == "" {
		cfg.APIPath = DefaultAPIPath
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.RefreshInterval < time.Second {
		cfg.RefreshInterval = time.Second
	}

	// The page depends only on cfg, so it is rendered once here.
	var page bytes.Buffer
	err := dashboardPage.Execute(&page, struct {
		APIPath        string
		RefreshSeconds string
	}{
		APIPath:        cfg.APIPath,
		RefreshSeconds: strconv.FormatInt(int64(cfg.RefreshInterval/time.Second), 10),
	})
	if err != nil {
		// The template is embedded and its data is two strings, so this
		// happens only if the embedded page is broken.
		panic("analytics: render dashboard page: " + err.Error())
	}

	d := &dashboard{authorize: cfg.Authorize, files: make(map[string]dashboardFile)}
	d.files[""] = newDashboardFile(page.Bytes(), "text/html; charset=utf-8")
	for name, a := range dashboardAssets {
		b, err := dashboardFiles.ReadFile(a.file)
		if err != nil {
			panic("analytics: read embedded " + a.file + ": " + err.Error())
		}
		d.files[name] = newDashboardFile(b, a.contentType)
	}
	return d
}

type dashboardFile struct {
	body        []byte
	contentType string
	etag        string
}

func newDashboardFile(body []byte, contentType string) dashboardFile {
	sum := sha256.Sum256(body)
	return dashboardFile{
		body:        body,
		contentType: contentType,
		etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
	}
}

type dashboard struct {
	authorize func(*http.Request) bool
	// files maps the asset parameter to what is served. The empty name is
	// the page itself.
	files map[string]dashboardFile
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	header := w.Header()
	header.Set("Content-Security-Policy", dashboardCSP)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("X-Frame-Options", "DENY")
	header.Set("Referrer-Policy", "no-referrer")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		header.Set("Allow", "GET, HEAD")
		http.Error(w, "method "+r.Method+" is not allowed, only GET and HEAD are", http.StatusMethodNotAllowed)
		return
	}
	if d.authorize != nil && !d.authorize(r) {
		http.Error(w, "not authorized to view the analytics dashboard", http.StatusForbidden)
		return
	}

	f, ok := d.files[r.URL.Query().Get("asset")]
	if !ok {
		http.Error(w, "asset not found, only app.js and style.css exist", http.StatusNotFound)
		return
	}
	header.Set("Content-Type", f.contentType)
	header.Set("ETag", f.etag)
	// no-cache makes the browser revalidate with the ETag, so a new build's
	// files are picked up at once while unchanged ones cost a 304.
	header.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
