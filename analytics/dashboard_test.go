package analytics_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
)

func serveDashboard(t *testing.T, cfg analytics.DashboardConfig, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	analytics.Dashboard(cfg).ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func checkCSP(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	csp := rec.Header().Get("Content-Security-Policy")
	for _, directive := range []string{
		"default-src 'self'", "script-src 'self'", "style-src 'self'",
		"img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(csp, directive) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

func TestDashboardPage(t *testing.T) {
	t.Parallel()
	rec := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard")

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", got)
	}
	checkCSP(t, rec)

	page := rec.Body.String()
	for _, want := range []string{
		`data-api="/api/analytics"`,
		`data-refresh-seconds="30"`,
		`<script src="?asset=app.js" defer></script>`,
		`<link rel="stylesheet" href="?asset=style.css">`,
		`data-window="15m"`, `data-window="1h"`, `data-window="24h"`, `data-window="7d"`,
		`data-sort="cost"`, `data-sort="calls"`,
		`id="chart-spend"`, `id="chart-tokens"`, `id="chart-calls"`, `id="chart-latency"`,
		`id="table-models"`, `id="table-endpoints"`, `id="table-keys"`, `id="table-rules"`,
		`id="table-recent"`, `id="table-groups"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestDashboardConfig(t *testing.T) {
	t.Parallel()
	cfg := analytics.DashboardConfig{APIPath: "/admin/analytics.json", RefreshInterval: 5 * time.Second}
	page := serveDashboard(t, cfg, http.MethodGet, "/admin/dashboard").Body.String()

	if !strings.Contains(page, `data-api="/admin/analytics.json"`) {
		t.Error("page does not carry the configured API path")
	}
	if !strings.Contains(page, `data-refresh-seconds="5"`) {
		t.Error("page does not carry the configured refresh interval")
	}

	short := serveDashboard(t, analytics.DashboardConfig{RefreshInterval: time.Millisecond}, http.MethodGet, "/").Body.String()
	if !strings.Contains(short, `data-refresh-seconds="1"`) {
		t.Error("a refresh interval under one second is not raised to one second")
	}
}

func TestDashboardEscapesAPIPath(t *testing.T) {
	t.Parallel()
	cfg := analytics.DashboardConfig{APIPath: `/x"><script>alert(1)</script>`}
	page := serveDashboard(t, cfg, http.MethodGet, "/dashboard").Body.String()

	if strings.Contains(page, "<script>alert") {
		t.Errorf("API path reached the page unescaped:\n%s", page)
	}
}

func TestDashboardAssets(t *testing.T) {
	t.Parallel()

	tests := []struct {
		asset       string
		contentType string
		contains    string
	}{
		{asset: "app.js", contentType: "text/javascript; charset=utf-8", contains: `"use strict"`},
		{asset: "style.css", contentType: "text/css; charset=utf-8", contains: ".bar-row"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.asset, func(t *testing.T) {
			t.Parallel()
			rec := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset="+tt.asset)

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			checkCSP(t, rec)
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestDashboardUnknownAsset(t *testing.T) {
	t.Parallel()
	for _, asset := range []string{"index.html", "../dashboard.go", "dashboard/app.js", "app.js%00"} {
		rec := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset="+asset)
		if rec.Code != http.StatusNotFound {
			t.Errorf("asset %q: status = %d, want 404", asset, rec.Code)
		}
	}
}

func TestDashboardRevalidates(t *testing.T) {
	t.Parallel()
	first := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset=app.js")
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if got := first.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", got)
	}

	req := httptest.NewRequest(http.MethodGet, "/dashboard?asset=app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	analytics.Dashboard(analytics.DashboardConfig{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status = %d, want 304", rec.Code)
	}
}

func TestDashboardMethodNotAllowed(t *testing.T) {
	t.Parallel()
	rec := serveDashboard(t, analytics.DashboardConfig{}, http.MethodPost, "/dashboard")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405", rec.Code)
	}
	if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
	}
}

func TestDashboardForbidden(t *testing.T) {
	t.Parallel()
	cfg := analytics.DashboardConfig{Authorize: func(*http.Request) bool { return false }}
	for _, target := range []string{"/dashboard", "/dashboard?asset=app.js"} {
		rec := serveDashboard(t, cfg, http.MethodGet, target)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status = %d, want 403", target, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "use strict") {
			t.Errorf("%s: forbidden response contains the script", target)
		}
	}
}

// TestDashboardScriptAvoidsHTMLSinks checks that the script never parses
// strings as markup, because it renders model names, endpoints and error
// messages that callers and providers control.
func TestDashboardScriptAvoidsHTMLSinks(t *testing.T) {
	t.Parallel()
	served := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset=app.js").Body.String()
	onDisk, err := os.ReadFile("dashboard/app.js")
	if err != nil {
		t.Fatalf("read script: %v", err)
	}
	if served != string(onDisk) {
		t.Error("served script differs from dashboard/app.js")
	}

	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|DOMParser|srcdoc`)
	for i, line := range strings.Split(served, "\n") {
		if m := sinks.FindString(line); m != "" {
			t.Errorf("app.js:%d uses %s: %s", i+1, m, strings.TrimSpace(line))
		}
	}
}

// TestDashboardLoadsNothingExternal checks that the page, style sheet and
// script reference no other origin and contain no inline code that the CSP
// would block.
func TestDashboardLoadsNothingExternal(t *testing.T) {
	t.Parallel()
	page := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard").Body.String()
	css := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset=style.css").Body.String()
	js := serveDashboard(t, analytics.DashboardConfig{}, http.MethodGet, "/dashboard?asset=app.js").Body.String()

	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, body := range map[string]string{"page": page, "style.css": css} {
		if m := external.FindString(body); m != "" {
			t.Errorf("%s references %s", name, m)
		}
	}
	if strings.Contains(css, "@import") || strings.Contains(css, "url(") {
		t.Error("style.css loads other resources")
	}
	// The script's only absolute URL is the SVG namespace, which names
	// rather than loads.
	if m := regexp.MustCompile(`https?://`).FindAllString(strings.ReplaceAll(js, "http://www.w3.org/2000/svg", ""), -1); len(m) > 0 {
		t.Errorf("app.js contains absolute URLs: %v", m)
	}

	if regexp.MustCompile(`<script(\s[^>]*)?>[^<]+</script>`).MatchString(page) || strings.Contains(page, "<script>") {
		t.Error("page has an inline script")
	}
	if strings.Contains(page, "<style") || regexp.MustCompile(`\sstyle=`).MatchString(page) {
		t.Error("page has inline styles")
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("page has inline event handlers")
	}
}
