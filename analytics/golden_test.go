package analytics_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// TestHandlerGolden compares the handler's JSON for each type with the files
// in testdata. Run `go test ./analytics -run Golden -update` after an
// intended change and review the diff.
func TestHandlerGolden(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		query  string
		config func() analytics.Config
	}{
		{name: "all", query: "", config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "usage", query: "type=usage", config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "errors", query: "type=errors", config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "performance", query: "type=performance", config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "window_15m", query: "type=all&window=15m", config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "since_until", query: "type=usage&since=2026-12-04T12:00:00Z&until=2026-12-04T18:00:00Z",
			config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "filter_model", query: "type=all&window=1h&bucket=15m&model=gpt-4o-mini",
			config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "filter_key", query: "type=errors&bucket=6h&key=team-a",
			config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "top_calls", query: "type=all&sort=calls&top=2&bucket=6h",
			config: func() analytics.Config { cfg, _ := fixtureConfig(); return cfg }},
		{name: "empty", query: "", config: func() analytics.Config {
			return analytics.Config{Store: newFakeStore(24*time.Hour, nil), Clock: fixedClock}
		}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api/analytics?"+tt.query, nil)
			analytics.Handler(tt.config()).ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}

			var got bytes.Buffer
			if err := json.Indent(&got, rec.Body.Bytes(), "", "  "); err != nil {
				t.Fatalf("response is not JSON: %v", err)
			}
			compareGolden(t, filepath.Join("testdata", tt.name+".golden.json"), got.Bytes())
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()

	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; rerun with -update and review the diff.\ngot:\n%s", path, got)
	}
}
