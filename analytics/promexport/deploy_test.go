package promexport_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics/promexport"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// The dashboard and the alert rules live beside the modules, in the
// repository's deploy folder.
var (
	repoRoot      = filepath.Join("..", "..")
	dashboardPath = filepath.Join(repoRoot, "deploy", "grafana", "aimeter.json")
	alertsPath    = filepath.Join(repoRoot, "deploy", "prometheus", "aimeter-alerts.yml")
	alertTests    = filepath.Join(repoRoot, "deploy", "prometheus", "aimeter-alerts_test.yml")
)

// requireRepository skips the test when the module was copied out of the
// aimeter repository, as the module cache does, so the deploy files are
// not beside it.
func requireRepository(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot, "go.work")); err != nil {
		t.Skipf("not inside the aimeter repository: %v", err)
	}
}

// Patterns that strip the parts of a PromQL expression that may contain
// identifiers other than metric names.
var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlLabelArgs = regexp.MustCompile(`label_values\(\s*([^,()]+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)`)
	promqlIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "group_left": true, "group_right": true}
)

// metricNames returns the metric names that expr reads: every identifier
// that is not a function, keyword, label name or label value.
func metricNames(expr string) []string {
	s := promqlLabelArgs.ReplaceAllString(expr, "$1")
	s = promqlStrings.ReplaceAllString(s, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")

	var names []string
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		ident := s[loc[0]:loc[1]]
		if promqlKeywords[ident] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] == '$' || s[loc[0]-1] == '.' || (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9')) {
			continue // a variable, or part of a number such as 1e3
		}
		names = append(names, ident)
	}
	return names
}

func TestMetricNamesExtraction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{
			name: "quantile",
			expr: `histogram_quantile(0.99, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_bucket{error_type=""}[5m])))`,
			want: []string{"gen_ai_client_operation_duration_seconds_bucket"},
		},
		{
			name: "ratio with grouping",
			expr: `sum by (error_type) (rate(a_total{x=~"$model"}[$__rate_interval])) / ignoring (error_type) group_left sum(rate(b_total[5m]))`,
			want: []string{"a_total", "b_total"},
		},
		{
			name: "label_values",
			expr: `label_values(aimeter_calls_total{gen_ai_provider_name=~"$provider"}, gen_ai_request_model)`,
			want: []string{"aimeter_calls_total"},
		},
		{
			name: "and with scalar",
			expr: "x_total > 0.05\nand\ny_total * 3600 > 1e3",
			want: []string{"x_total", "y_total"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := metricNames(tt.expr)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// exportedFamilies returns the names and types of every metric family the
// exporter exports once it has seen a call of every kind and has a limiter
// and a tracker to read.
func exportedFamilies(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	exp := promexport.New()
	endCalls(exp, knownRecords())
	exp.AddRateLimiter(ratelimit.NewMemory(ratelimit.APIRule))
	exp.AddTracker(fakeTracker{})

	families := make(map[string]dto.MetricType)
	for _, mf := range gather(t, exp) {
		families[mf.GetName()] = mf.GetType()
	}
	return families
}

// checkExpr reports every metric in expr that the exporter does not export.
// The _bucket, _sum and _count series count as their histogram's.
func checkExpr(t *testing.T, where, expr string, families map[string]dto.MetricType) {
	t.Helper()
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, name := range names {
		if _, ok := families[name]; ok {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if typ, ok := families[base]; ok && base != name && typ == dto.MetricType_HISTOGRAM {
			continue
		}
		t.Errorf("%s: %s is not exported by promexport (expression %q)", where, name, expr)
	}
}

// grafanaDashboard is the part of a Grafana dashboard model the test reads.
type grafanaDashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *grafanaSource  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string         `json:"title"`
		Type       string         `json:"type"`
		Datasource *grafanaSource `json:"datasource"`
		Targets    []struct {
			Expr       string         `json:"expr"`
			Datasource *grafanaSource `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type grafanaSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	var dash grafanaDashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard title %q, uid %q; want both set", dash.Title, dash.UID)
	}
	families := exportedFamilies(t)

	// A datasource variable lets the dashboard be imported against any
	// Prometheus data source.
	const wantSource = "${datasource}"
	var hasSourceVar bool
	for _, v := range dash.Templating.List {
		switch {
		case v.Type == "datasource":
			hasSourceVar = v.Name == "datasource"
		case v.Type == "query":
			// The query is a string or an object with a query field,
			// depending on the Grafana version that saved the dashboard.
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Errorf("variable %s: query is neither a string nor an object: %v", v.Name, err)
					continue
				}
			}
			checkExpr(t, "variable "+v.Name, q.Query, families)
			if v.Datasource == nil || v.Datasource.UID != wantSource {
				t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, wantSource)
			}
		}
	}
	if !hasSourceVar {
		t.Errorf("dashboard has no datasource variable named datasource")
	}

	var exprs int
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != wantSource {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, wantSource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if target.Datasource == nil || target.Datasource.UID != wantSource {
				t.Errorf("panel %q: target datasource %+v, want uid %s", p.Title, target.Datasource, wantSource)
			}
			checkExpr(t, "panel "+p.Title, target.Expr, families)
			exprs++
		}
	}
	if exprs == 0 {
		t.Errorf("dashboard has no PromQL expressions")
	}
}

// TestGrafanaDashboardCoversMetrics checks that each kind of data the
// exporter produces has a panel: spend, tokens, latency, errors and rate
// limits.
func TestGrafanaDashboardCoversMetrics(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	text := string(raw)
	for _, want := range []string{
		"aimeter_cost_usd_total",
		"aimeter_tokens_total",
		"histogram_quantile(0.5,",
		"histogram_quantile(0.95,",
		"histogram_quantile(0.99,",
		"gen_ai_client_operation_duration_seconds_bucket",
		"aimeter_call_errors_total",
		`aimeter_ratelimit_decisions_total{decision=\"rejected\"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dashboard does not use %s", want)
		}
	}
}

// alertRule is one rule of a Prometheus rule file.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func TestAlertRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatalf("read alert rules: %v", err)
	}
	var file struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parse alert rules: %v", err)
	}
	families := exportedFamilies(t)

	var alerts []string
	for _, g := range file.Groups {
		if g.Name == "" {
			t.Errorf("rule group without a name")
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" {
				t.Errorf("group %s: rule without an alert name (expression %q)", g.Name, r.Expr)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q is not a duration: %v", r.Alert, r.For, err)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity label", r.Alert)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: summary and description annotations are required", r.Alert)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, families)
		}
	}

	sort.Strings(alerts)
	for _, want := range []string{"AimeterHighErrorRate", "AimeterHighLatencyP99", "AimeterSpendPerHourHigh"} {
		if i := sort.SearchStrings(alerts, want); i == len(alerts) || alerts[i] != want {
			t.Errorf("alert %s missing; alerts are %v", want, alerts)
		}
	}
}

// TestAlertRulesHaveComments checks that a comment above each rule states
// when it fires.
func TestAlertRulesHaveComments(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatalf("read alert rules: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse alert rules: %v", err)
	}

	rules := 0
	for _, group := range mappingValue(doc.Content[0], "groups").Content {
		for _, rule := range mappingValue(group, "rules").Content {
			rules++
			name := mappingValue(rule, "alert").Value
			if !strings.Contains(rule.HeadComment, "Fires when") && !strings.Contains(rule.HeadComment, "Fires as soon as") {
				t.Errorf("alert %s: comment %q does not say when it fires", name, rule.HeadComment)
			}
		}
	}
	if rules == 0 {
		t.Errorf("no rules found")
	}
}

// TestAlertRulesWithPromtool checks the rules and runs their unit tests
// with Prometheus's promtool, which parses PromQL fully. It skips when
// promtool is not installed.
func TestAlertRulesWithPromtool(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skipf("promtool not installed: %v", err)
	}
	for _, args := range [][]string{{"check", "rules", alertsPath}, {"test", "rules", alertTests}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// mappingValue returns the value of key in a YAML mapping node, or an
// empty node when the key is missing.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// TestDeployCoversErrorCategories checks that the error categories the
// alert rules name exist in errmon.
func TestDeployCoversErrorCategories(t *testing.T) {
	t.Parallel()
	requireRepository(t)
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatalf("read alert rules: %v", err)
	}
	known := make(map[string]bool)
	for _, c := range errmon.Categories {
		known[string(c)] = true
	}
	for _, m := range regexp.MustCompile(`error_type!?="([a-z_]+)"`).FindAllStringSubmatch(string(raw), -1) {
		if !known[m[1]] {
			t.Errorf("alert rules name error_type %q, which is not an errmon category", m[1])
		}
	}
}
