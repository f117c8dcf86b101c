package analytics_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
)

func TestParseQueryValid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		raw  string
		want analytics.Query
	}{
		{name: "empty", raw: "", want: analytics.Query{}},
		{name: "type all", raw: "type=all", want: analytics.Query{Type: analytics.TypeAll}},
		{name: "type usage", raw: "type=usage", want: analytics.Query{Type: analytics.TypeUsage}},
		{name: "type errors", raw: "type=errors", want: analytics.Query{Type: analytics.TypeErrors}},
		{name: "type performance", raw: "type=performance", want: analytics.Query{Type: analytics.TypePerformance}},
		{name: "window 15m", raw: "window=15m", want: analytics.Query{Window: 15 * time.Minute}},
		{name: "window 1h", raw: "window=1h", want: analytics.Query{Window: time.Hour}},
		{name: "window 24h", raw: "window=24h", want: analytics.Query{Window: 24 * time.Hour}},
		{name: "window 7d", raw: "window=7d", want: analytics.Query{Window: 7 * 24 * time.Hour}},
		{name: "window with until", raw: "window=1h&until=2026-12-04T18:00:00Z",
			want: analytics.Query{Window: time.Hour, Until: time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)}},
		{name: "since and until", raw: "since=2026-12-04T17:00:00Z&until=2026-12-04T18:00:00Z",
			want: analytics.Query{Since: time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)}},
		{name: "since with offset", raw: "since=" + url.QueryEscape("2026-12-04T19:30:00+02:00"),
			want: analytics.Query{Since: time.Date(2026, 12, 4, 17, 30, 0, 0, time.UTC)}},
		{name: "empty values", raw: "type=&window=&since=&until=&endpoint=&provider=&model=&key=&sort=&top=&bucket=", want: analytics.Query{}},
		{name: "unknown parameter", raw: "format=csv", want: analytics.Query{}},
		{name: "filters", raw: "endpoint=%2Fapi%2Fai%2Fchat&provider=openai&model=gpt-4o-mini&key=team-a",
			want: analytics.Query{Filter: analytics.Filter{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Key: "team-a"}}},
		{name: "filter keeps markup as given", raw: "model=" + url.QueryEscape("<img src=x onerror=alert(1)>"),
			want: analytics.Query{Filter: analytics.Filter{Model: "<img src=x onerror=alert(1)>"}}},
		{name: "sort cost", raw: "sort=cost", want: analytics.Query{Sort: analytics.SortCost}},
		{name: "sort calls", raw: "sort=calls", want: analytics.Query{Sort: analytics.SortCalls}},
		{name: "top 1", raw: "top=1", want: analytics.Query{Top: 1}},
		{name: "top max", raw: "top=1000", want: analytics.Query{Top: analytics.MaxTop}},
		{name: "bucket 1m", raw: "bucket=1m", want: analytics.Query{Bucket: time.Minute}},
		{name: "bucket 15m", raw: "bucket=15m", want: analytics.Query{Bucket: 15 * time.Minute}},
		{name: "bucket 3h", raw: "bucket=3h", want: analytics.Query{Bucket: 3 * time.Hour}},
		{name: "bucket 1d", raw: "bucket=1d", want: analytics.Query{Bucket: 24 * time.Hour}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatalf("url.ParseQuery: %v", err)
			}
			got, err := analytics.ParseQuery(v)
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			if got.Type != tt.want.Type || got.Window != tt.want.Window ||
				!got.Since.Equal(tt.want.Since) || !got.Until.Equal(tt.want.Until) ||
				got.Filter != tt.want.Filter || got.Sort != tt.want.Sort || got.Top != tt.want.Top || got.Bucket != tt.want.Bucket {
				t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseQueryInvalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		raw   string
		param string
	}{
		{name: "unknown type", raw: "type=cost", param: "type"},
		{name: "type in capitals", raw: "type=ALL", param: "type"},
		{name: "unknown window", raw: "window=2h", param: "window"},
		{name: "window in Go syntax", raw: "window=15m0s", param: "window"},
		{name: "window with since", raw: "window=1h&since=2026-12-04T17:00:00Z", param: "window"},
		{name: "malformed since", raw: "since=yesterday", param: "since"},
		{name: "since without zone", raw: "since=2026-12-04T17:00:00", param: "since"},
		{name: "malformed until", raw: "until=1733338800", param: "until"},
		{name: "unknown sort", raw: "sort=spend", param: "sort"},
		{name: "top zero", raw: "top=0", param: "top"},
		{name: "top negative", raw: "top=-5", param: "top"},
		{name: "top above max", raw: "top=1001", param: "top"},
		{name: "top fraction", raw: "top=2.5", param: "top"},
		{name: "top not a number", raw: "top=all", param: "top"},
		{name: "unknown bucket", raw: "bucket=2m", param: "bucket"},
		{name: "bucket in Go syntax", raw: "bucket=1h0m0s", param: "bucket"},
		{name: "bucket in seconds", raw: "bucket=60", param: "bucket"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatalf("url.ParseQuery: %v", err)
			}
			_, err = analytics.ParseQuery(v)

			var qe *analytics.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("ParseQuery(%q) error = %v, want a *QueryError", tt.raw, err)
			}
			if qe.Param != tt.param {
				t.Errorf("param = %q, want %q", qe.Param, tt.param)
			}
		})
	}
}
