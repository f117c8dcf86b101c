package dashboardtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/aimeter/aimeter/analytics"
)

// Laptop and phone viewports, in CSS pixels.
const (
	laptopWidth, laptopHeight = 1280, 900
	phoneWidth, phoneHeight   = 390, 844
)

// stepTimeout bounds each browser step, so a page that never finishes
// loading fails the test instead of hanging it.
const stepTimeout = 30 * time.Second

// pageHooks runs before the page's own scripts in every document. It
// replaces the dialog functions with recorders, so markup that reached the
// DOM and ran shows up in window.__alerts, and it collects script errors
// and Content-Security-Policy violations.
const pageHooks = `
window.__alerts = [];
window.__errors = [];
window.__csp = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (message) { window.__alerts.push(name + ": " + String(message)); };
}
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
`

// readPage collects what the dashboard shows: cards, chart values, table
// cells, and the hooks' records.
const readPage = `(() => {
  const card = (id) => {
    const el = document.getElementById(id);
    return { text: el.textContent, value: el.dataset.value ?? null };
  };
  const chart = (name) => {
    const svg = document.querySelector('svg[data-chart="' + name + '"]');
    if (!svg) {
      return null;
    }
    const series = {};
    for (const g of svg.querySelectorAll("[data-series]")) {
      series[g.dataset.series] = [...g.querySelectorAll("[data-value]")].map((el) => Number(el.dataset.value));
    }
    const empty = svg.querySelector(".chart-empty");
    return {
      points: Number(svg.dataset.points), width: svg.getBoundingClientRect().width,
      series: series, empty: empty ? empty.textContent : "",
    };
  };
  const table = (id) => [...document.querySelectorAll("#" + id + " tbody tr")].map(
    (tr) => [...tr.cells].map((td) => ({ text: td.textContent, value: td.dataset.value ?? null })));
  return {
    loads: Number(document.body.dataset.loads || 0),
    window: document.body.dataset.loadedWindow || "",
    status: document.getElementById("status").textContent,
    cards: {
      calls: card("total-calls"), cost: card("total-cost"), tokens: card("total-tokens"),
      cache: card("cache-hit"), errorRate: card("error-rate"), streamSpeed: card("stream-speed"),
    },
    charts: { spend: chart("spend"), tokens: chart("tokens"), calls: chart("calls"), latency: chart("latency") },
    tables: {
      models: table("table-models"), endpoints: table("table-endpoints"), keys: table("table-keys"),
      rules: table("table-rules"), recent: table("table-recent"), groups: table("table-groups"),
    },
    bucketNotes: [...document.querySelectorAll(".bucket-note")].map((el) => el.textContent),
    filters: [...document.querySelectorAll("#filters .chip")].map((el) => el.textContent),
    pressed: [...document.querySelectorAll('[aria-pressed="true"]')].map((el) => el.dataset.window || el.dataset.sort),
    images: document.querySelectorAll("img").length,
    alerts: window.__alerts || null,
    errors: window.__errors || null,
    csp: window.__csp || null,
    marker: window.__marker ?? null,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
})()`

type cell struct {
	Text  string  `json:"text"`
	Value *string `json:"value"`
}

type chartData struct {
	Points int                  `json:"points"`
	Width  float64              `json:"width"`
	Series map[string][]float64 `json:"series"`
	// Empty is the message a chart shows without data.
	Empty string `json:"empty"`
}

type pageState struct {
	Loads       int                   `json:"loads"`
	Window      string                `json:"window"`
	Status      string                `json:"status"`
	Cards       map[string]cell       `json:"cards"`
	Charts      map[string]*chartData `json:"charts"`
	Tables      map[string][][]cell   `json:"tables"`
	BucketNotes []string              `json:"bucketNotes"`
	Filters     []string              `json:"filters"`
	Pressed     []string              `json:"pressed"`
	Images      int                   `json:"images"`
	Alerts      []string              `json:"alerts"`
	Errors      []string              `json:"errors"`
	CSP         []string              `json:"csp"`
	Marker      *string               `json:"marker"`
	Overflow    float64               `json:"overflow"`
}

// chromiumPath returns the Chromium binary to drive: AIMETER_CHROMIUM when
// set, then /usr/bin/chromium, then chromium on PATH, or "" when there is
// none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIMETER_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("AIMETER_CHROMIUM names a browser that cannot be used: %v", err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// startBrowser starts a headless Chromium with a new, empty profile and
// returns a context whose tab has pageHooks installed. It skips the test
// when there is no Chromium, except under CI=true, where it fails.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	if path == "" {
		const msg = "no Chromium found: install Debian's chromium package (apt-get install -y chromium) or set AIMETER_CHROMIUM to a Chromium binary"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	// The background-networking, component-update, sync and QUIC flags keep
	// the browser from calling Google's servers, which a closed network
	// refuses. The test reaches only its own loopback server.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(laptopWidth, laptopHeight),
		// The page formats times in the browser's zone.
		chromedp.Env("TZ=UTC"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})

	// The first action starts the browser, which lives as long as ctx, so
	// it runs without a timeout.
	install := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if _, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageHooks}); err != nil {
			return fmt.Errorf("install page hooks: %w", err)
		}
		// A fixed light scheme, whatever the machine prefers.
		_, err := cdp.Call(ctx, target, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
		})
		return err
	})
	if err := chromedp.Do(ctx, install); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	return ctx
}

// step runs actions with stepTimeout.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitLoads waits until the page has rendered n snapshots.
func waitLoads(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	cond := fmt.Sprintf("Number(document.body.dataset.loads || 0) >= %d", n)
	step(t, ctx, "wait for snapshot "+strconv.Itoa(n), chromedp.Action[chromedp.Void](func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(stepTimeout))(ctx, target)
		return chromedp.Void{}, err
	}))
}

func read(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatalf("read page: %v", err)
	}
	return st
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// fetchSnapshot reads the JSON that the page reads for the same view.
func fetchSnapshot(t *testing.T, base string, query url.Values) *analytics.Snapshot {
	t.Helper()
	query.Set("type", "all")
	resp, err := http.Get(base + "/api/analytics?" + query.Encode())
	if err != nil {
		t.Fatalf("fetch snapshot: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch snapshot: status %s", resp.Status)
	}
	var snap analytics.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	return &snap
}

// digits returns the digits of a formatted integer, so "1,234" compares
// equal to 1234 whatever the locale's separator.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func value(t *testing.T, what string, c cell) float64 {
	t.Helper()
	if c.Value == nil {
		t.Fatalf("%s has no data-value (text %q)", what, c.Text)
	}
	v, err := strconv.ParseFloat(*c.Value, 64)
	if err != nil {
		t.Fatalf("%s: data-value %q is not a number", what, *c.Value)
	}
	return v
}

func sum(values []float64) float64 {
	var s float64
	for _, v := range values {
		s += v
	}
	return s
}

// closeTo compares sums of floats that the page and Go added in different
// orders.
func closeTo(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// checkPageMatches compares what the page shows with the snapshot.
func checkPageMatches(t *testing.T, st pageState, snap *analytics.Snapshot) {
	t.Helper()

	// Cards.
	if got := value(t, "calls card", st.Cards["calls"]); got != float64(snap.Usage.Calls) {
		t.Errorf("calls card value = %v, want %d", got, snap.Usage.Calls)
	}
	if got := digits(st.Cards["calls"].Text); got != strconv.FormatInt(snap.Usage.Calls, 10) {
		t.Errorf("calls card shows %q, want %d", st.Cards["calls"].Text, snap.Usage.Calls)
	}
	if got := value(t, "spend card", st.Cards["cost"]); got != snap.Usage.CostUSD {
		t.Errorf("spend card value = %v, want %v", got, snap.Usage.CostUSD)
	}
	if !strings.HasPrefix(st.Cards["cost"].Text, "$") {
		t.Errorf("spend card shows %q, want a dollar amount", st.Cards["cost"].Text)
	}
	if got := value(t, "tokens card", st.Cards["tokens"]); got != float64(snap.Usage.Tokens.Total) {
		t.Errorf("tokens card value = %v, want %d", got, snap.Usage.Tokens.Total)
	}
	if got := value(t, "cache card", st.Cards["cache"]); got != snap.Usage.CacheHitRatio {
		t.Errorf("cache card value = %v, want %v", got, snap.Usage.CacheHitRatio)
	}
	if got := value(t, "error rate card", st.Cards["errorRate"]); got != snap.Errors.Rate {
		t.Errorf("error rate card value = %v, want %v", got, snap.Errors.Rate)
	}
	if speed := snap.Performance.StreamOutputTokensPerSecond; speed != nil {
		if got := value(t, "stream speed card", st.Cards["streamSpeed"]); got != *speed {
			t.Errorf("stream speed card value = %v, want %v", got, *speed)
		}
	}

	// Charts: one point per bucket, values that add up to the totals.
	for name, want := range map[string]int{
		"spend": len(snap.Usage.Series), "tokens": len(snap.Usage.Series),
		"calls": len(snap.Errors.Series), "latency": len(snap.Performance.Series),
	} {
		c := st.Charts[name]
		if c == nil {
			t.Errorf("%s chart is missing", name)
			continue
		}
		if c.Points != want {
			t.Errorf("%s chart has %d points, want %d", name, c.Points, want)
		}
	}
	if c := st.Charts["spend"]; c != nil {
		if got := sum(c.Series["cost_usd"]); !closeTo(got, snap.Usage.CostUSD) {
			t.Errorf("spend chart bars sum to %v, want %v", got, snap.Usage.CostUSD)
		}
		if snap.Usage.CostUSD > 0 && len(c.Series["cost_usd"]) == 0 {
			t.Error("spend chart has no bars")
		}
	}
	if c := st.Charts["tokens"]; c != nil {
		if got := sum(c.Series["input"]); got != float64(snap.Usage.Tokens.Input) {
			t.Errorf("tokens chart input bars sum to %v, want %d", got, snap.Usage.Tokens.Input)
		}
		if got := sum(c.Series["output"]); got != float64(snap.Usage.Tokens.Output) {
			t.Errorf("tokens chart output bars sum to %v, want %d", got, snap.Usage.Tokens.Output)
		}
	}
	if c := st.Charts["calls"]; c != nil {
		if got := sum(c.Series["calls"]); got != float64(snap.Usage.Calls) {
			t.Errorf("calls chart bars sum to %v, want %d", got, snap.Usage.Calls)
		}
		if got := sum(c.Series["errors"]); got != float64(snap.Errors.Total) {
			t.Errorf("calls chart failure bars sum to %v, want %d", got, snap.Errors.Total)
		}
	}
	if c := st.Charts["latency"]; c != nil {
		var busy int
		var maxP99 float64
		for _, p := range snap.Performance.Series {
			if p.Calls > 0 {
				busy++
				maxP99 = math.Max(maxP99, p.Latency.P99)
			}
		}
		for _, q := range []string{"p50", "p95", "p99"} {
			if got := len(c.Series[q]); got != busy {
				t.Errorf("latency chart has %d %s dots, want one for each of the %d buckets with calls", got, q, busy)
			}
		}
		var gotMax float64
		for _, v := range c.Series["p99"] {
			gotMax = math.Max(gotMax, v)
		}
		if gotMax != maxP99 {
			t.Errorf("latency chart p99 peaks at %v ms, want %v", gotMax, maxP99)
		}
	}

	// Tables: one row per breakdown row, in the JSON's order.
	if models := dataRows(t, st, "models", len(snap.Usage.ByModel)); models != nil {
		var calls float64
		for i, m := range snap.Usage.ByModel {
			row := models[i]
			if !m.Other && row[1].Text != m.Model {
				t.Errorf("models row %d shows model %q, want %q", i, row[1].Text, m.Model)
			}
			if got := value(t, "models calls cell", row[2]); got != float64(m.Calls) {
				t.Errorf("models row %d (%s) calls = %v, want %d", i, m.Model, got, m.Calls)
			}
			if got := value(t, "models spend cell", row[4]); got != m.CostUSD {
				t.Errorf("models row %d (%s) spend = %v, want %v", i, m.Model, got, m.CostUSD)
			}
			calls += value(t, "models calls cell", row[2])
		}
		if calls != float64(snap.Usage.Calls) {
			t.Errorf("models table calls add up to %v, want %d", calls, snap.Usage.Calls)
		}
	}

	if endpoints := dataRows(t, st, "endpoints", len(snap.Usage.ByEndpoint)); endpoints != nil {
		for i, e := range snap.Usage.ByEndpoint {
			if !e.Other && endpoints[i][0].Text != e.Endpoint {
				t.Errorf("endpoints row %d shows %q, want %q", i, endpoints[i][0].Text, e.Endpoint)
			}
			if got := value(t, "endpoints spend cell", endpoints[i][3]); got != e.CostUSD {
				t.Errorf("endpoints row %d (%s) spend = %v, want %v", i, e.Endpoint, got, e.CostUSD)
			}
		}
	}

	if keys := dataRows(t, st, "keys", len(snap.Usage.ByKey)); keys != nil {
		var cost float64
		for i, k := range snap.Usage.ByKey {
			want := k.Key
			if want == "" {
				want = "(no key)"
			}
			if !k.Other && keys[i][0].Text != want {
				t.Errorf("keys row %d shows %q, want %q", i, keys[i][0].Text, want)
			}
			got := value(t, "keys spend cell", keys[i][4])
			if got != k.CostUSD {
				t.Errorf("keys row %d (%s) spend = %v, want %v", i, k.Key, got, k.CostUSD)
			}
			cost += got
		}
		if !closeTo(cost, snap.Usage.CostUSD) {
			t.Errorf("keys table spend adds up to %v, want %v", cost, snap.Usage.CostUSD)
		}
	}

	if rules := dataRows(t, st, "rules", len(snap.RateLimits.ByRule)); rules != nil {
		for i, r := range snap.RateLimits.ByRule {
			if rules[i][0].Text != r.Rule || value(t, "rejected cell", rules[i][2]) != float64(r.Rejected) {
				t.Errorf("rate limits row %d = %q with %v rejected, want %q with %d", i, rules[i][0].Text, value(t, "rejected cell", rules[i][2]), r.Rule, r.Rejected)
			}
		}
	}

	dataRows(t, st, "recent", len(snap.Errors.Recent))
	dataRows(t, st, "groups", len(snap.Errors.Groups))
}

// dataRows returns the rows of a table when it has one per breakdown row,
// and nil otherwise. A table of an empty breakdown must show one row with
// a message instead.
func dataRows(t *testing.T, st pageState, table string, want int) [][]cell {
	t.Helper()
	rows := st.Tables[table]
	if want == 0 {
		if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0].Text == "" {
			t.Errorf("%s table of no rows = %+v, want one row with a message", table, rows)
		}
		return nil
	}
	if len(rows) != want {
		t.Errorf("%s table has %d rows, want %d", table, len(rows), want)
		return nil
	}
	return rows
}

// checkNothingRan checks that no markup from the data ran or became
// elements, and that the page broke no rule of its own.
func checkNothingRan(t *testing.T, st pageState) {
	t.Helper()
	if st.Alerts == nil {
		t.Fatal("page hooks are missing, so nothing can be concluded about dialogs")
	}
	if len(st.Alerts) > 0 {
		t.Errorf("script from the data ran: %q", st.Alerts)
	}
	if st.Images != 0 {
		t.Errorf("page has %d <img> elements, want none: markup from the data became elements", st.Images)
	}
	if len(st.Errors) > 0 {
		t.Errorf("page raised script errors: %q", st.Errors)
	}
	if len(st.CSP) > 0 {
		t.Errorf("page broke its Content-Security-Policy: %q", st.CSP)
	}
}

func TestDashboardInBrowser(t *testing.T) {
	srv := newFixtureServer(t, fixtureRecords())
	ctx := startBrowser(t)
	dashboard := srv.URL + "/dashboard"

	step(t, ctx, "open dashboard", chromedp.Navigate(dashboard), chromedp.WaitVisible(chromedp.CSS(`svg[data-chart="spend"]`)))
	waitLoads(t, ctx, 1)

	t.Run("shows the 24h snapshot", func(t *testing.T) {
		st := read(t, ctx)
		snap := fetchSnapshot(t, srv.URL, url.Values{"window": {"24h"}, "sort": {"cost"}})
		if st.Window != "24h" {
			t.Errorf("loaded window = %q, want 24h", st.Window)
		}
		if snap.Usage.Calls == 0 {
			t.Fatal("the fixture has no calls in the last 24 hours")
		}
		checkPageMatches(t, st, snap)
		for _, note := range st.BucketNotes {
			if note != "per 15m" {
				t.Errorf("chart note = %q, want per 15m", note)
			}
		}
		if got := st.Charts["spend"]; got != nil && (got.Width < 400 || got.Width > laptopWidth) {
			t.Errorf("spend chart is %v px wide on a %d px screen", got.Width, laptopWidth)
		}
	})

	t.Run("shows markup as text", func(t *testing.T) {
		st := read(t, ctx)
		checkNothingRan(t, st)

		var modelShown, messageShown bool
		for _, row := range st.Tables["models"] {
			if row[1].Text == xssModel {
				modelShown = true
			}
		}
		for _, row := range st.Tables["recent"] {
			if row[4].Text == xssModel && row[5].Text == xssMessage {
				messageShown = true
			}
		}
		if !modelShown {
			t.Errorf("models table does not show the model %q as text", xssModel)
		}
		if !messageShown {
			t.Errorf("recent errors table does not show the message %q of model %q as text", xssMessage, xssModel)
		}
	})

	if os.Getenv("AIMETER_UPDATE_SCREENSHOT") == "1" {
		screenshot(t, ctx, filepath.Join("..", "..", "docs", "dashboard.png"))
	}
	if dir := os.Getenv("AIMETER_SCREENSHOT_DIR"); dir != "" {
		screenshot(t, ctx, filepath.Join(dir, "laptop.png"))
	}

	t.Run("switches window in place", func(t *testing.T) {
		step(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__marker = "same document"`))
		before := read(t, ctx).Loads
		step(t, ctx, "pick 1h", chromedp.Click(chromedp.CSS(`button[data-window="1h"]`)))
		waitLoads(t, ctx, before+1)

		st := read(t, ctx)
		snap := fetchSnapshot(t, srv.URL, url.Values{"window": {"1h"}, "sort": {"cost"}})
		if st.Window != "1h" {
			t.Errorf("loaded window = %q, want 1h", st.Window)
		}
		if st.Marker == nil || *st.Marker != "same document" {
			t.Error("the page was reloaded, want the window switched without a reload")
		}
		if got := strings.Join(st.Pressed, ","); got != "1h,cost" {
			t.Errorf("pressed buttons = %q, want 1h,cost", got)
		}
		if len(snap.Usage.Series) != 60 {
			t.Errorf("1h snapshot has %d points, want 60", len(snap.Usage.Series))
		}
		checkPageMatches(t, st, snap)
		for _, note := range st.BucketNotes {
			if note != "per 1m" {
				t.Errorf("chart note = %q, want per 1m", note)
			}
		}
	})

	t.Run("sorts by calls", func(t *testing.T) {
		before := read(t, ctx).Loads
		step(t, ctx, "sort by calls", chromedp.Click(chromedp.CSS(`button[data-sort="calls"]`)))
		waitLoads(t, ctx, before+1)

		st := read(t, ctx)
		snap := fetchSnapshot(t, srv.URL, url.Values{"window": {"1h"}, "sort": {"calls"}})
		checkPageMatches(t, st, snap)
	})

	t.Run("filters by a model", func(t *testing.T) {
		before := read(t, ctx).Loads
		step(t, ctx, "back to 24h", chromedp.Click(chromedp.CSS(`button[data-window="24h"]`)))
		waitLoads(t, ctx, before+1)

		// The markup model is the one to filter by, so its name also
		// passes through the filter chip and the request.
		clickModel := fmt.Sprintf(`(() => {
			const buttons = [...document.querySelectorAll("#table-models button.link")];
			const b = buttons.find((el) => el.textContent === %s);
			if (!b) { throw new Error("no filter button for the model"); }
			b.click();
		})()`, strconv.Quote(xssModel))
		before = read(t, ctx).Loads
		step(t, ctx, "filter by model", chromedp.Evaluate[chromedp.Void](clickModel))
		waitLoads(t, ctx, before+1)

		st := read(t, ctx)
		snap := fetchSnapshot(t, srv.URL, url.Values{"window": {"24h"}, "sort": {"calls"}, "provider": {"selfhosted"}, "model": {xssModel}})
		if snap.Usage.Calls == 0 {
			t.Fatal("the filtered snapshot has no calls")
		}
		checkPageMatches(t, st, snap)
		checkNothingRan(t, st)
		chips := strings.Join(st.Filters, " | ")
		if !strings.Contains(chips, "model: "+xssModel) || !strings.Contains(chips, "provider: selfhosted") {
			t.Errorf("filter chips = %q, want the provider and the model as text", chips)
		}
	})

	t.Run("shows an empty store", func(t *testing.T) {
		empty := newFixtureServer(t, nil)
		step(t, ctx, "open the empty dashboard",
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(empty.URL+"/dashboard"),
			chromedp.WaitVisible(chromedp.CSS(`svg[data-chart="spend"]`)),
		)
		waitLoads(t, ctx, 1)

		st := read(t, ctx)
		checkPageMatches(t, st, fetchSnapshot(t, empty.URL, url.Values{"window": {"24h"}, "sort": {"cost"}}))
		checkNothingRan(t, st)
		if got := st.Cards["calls"].Text; got != "0" {
			t.Errorf("calls card shows %q, want 0", got)
		}
		if rows := st.Tables["models"]; len(rows) != 1 || rows[0][0].Text != "No calls in this window." {
			t.Errorf("models table = %+v, want one row saying there are no calls", rows)
		}
		for name, c := range st.Charts {
			if c != nil && c.Empty != "No calls in this window." {
				t.Errorf("%s chart says %q, want that there are no calls", name, c.Empty)
			}
		}
	})

	t.Run("fits a phone", func(t *testing.T) {
		// The blank page in between makes the dashboard a new document, not
		// a change of the current one's fragment.
		step(t, ctx, "open on a phone",
			chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(dashboard+"#window=24h"),
			chromedp.WaitVisible(chromedp.CSS(`svg[data-chart="spend"]`)),
		)
		waitLoads(t, ctx, 1)

		st := read(t, ctx)
		if st.Overflow > 0 {
			t.Errorf("page is %v px wider than the %d px screen, want tables to scroll inside their panels", st.Overflow, phoneWidth)
		}
		for name, c := range st.Charts {
			if c != nil && c.Width > phoneWidth {
				t.Errorf("%s chart is %v px wide on a %d px screen", name, c.Width, phoneWidth)
			}
		}
		checkPageMatches(t, st, fetchSnapshot(t, srv.URL, url.Values{"window": {"24h"}, "sort": {"cost"}}))
		checkNothingRan(t, st)

		if dir := os.Getenv("AIMETER_SCREENSHOT_DIR"); dir != "" {
			screenshot(t, ctx, filepath.Join(dir, "phone.png"))
		}
	})
}
