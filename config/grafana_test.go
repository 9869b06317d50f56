package config

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dashboardPanel is the part of a Grafana panel the test reads. Rows may
// nest panels (when collapsed).
type dashboardPanel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *datasourceRef   `json:"datasource"`
	Targets    []panelTarget    `json:"targets"`
	Panels     []dashboardPanel `json:"panels"`
}

type panelTarget struct {
	Datasource   *datasourceRef `json:"datasource"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	Title         string           `json:"title"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// documentedRow is a row of the metric tables in docs/metrics.md:
// | `name` | type | labels | meaning |
var documentedRow = regexp.MustCompile("(?m)^\\|\\s*`(bgplb_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)\\s*\\|")

// documentedMetrics returns each metric of docs/metrics.md with its type.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]string{}
	for _, m := range documentedRow.FindAllStringSubmatch(string(doc), -1) {
		name, kind := m[1], m[2]
		if !slices.Contains([]string{"counter", "gauge", "histogram", "summary"}, kind) {
			t.Errorf("docs/metrics.md: %s has type %q", name, kind)
		}
		if _, dup := metrics[name]; dup {
			t.Errorf("docs/metrics.md lists %s twice", name)
		}
		metrics[name] = kind
	}
	if len(metrics) == 0 {
		t.Fatal("docs/metrics.md lists no metrics; the table format changed")
	}
	return metrics
}

var (
	promqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	// Grafana variables: $name, ${name}, ${name:format}, [[name]].
	grafanaVariable = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)
	labelMatchers   = regexp.MustCompile(`\{[^{}]*\}`)
	rangeSelectors  = regexp.MustCompile(`\[[^\[\]]*\]`)
	labelLists      = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	// A number or duration first, so that the "m" of "5m" is no name.
	promqlToken = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*`)
)

var promqlKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right",
	"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}

// metricNames returns the metric names an expression selects: the names
// that are neither functions, aggregations, keywords, labels nor Grafana
// variables.
func metricNames(expr string) []string {
	expr = promqlString.ReplaceAllString(expr, `""`)
	expr = grafanaVariable.ReplaceAllString(expr, "")
	expr = labelMatchers.ReplaceAllString(expr, "")
	expr = rangeSelectors.ReplaceAllString(expr, "")
	expr = labelLists.ReplaceAllString(expr, "")
	var names []string
	for _, loc := range promqlToken.FindAllStringIndex(expr, -1) {
		tok := expr[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || slices.Contains(promqlKeywords, strings.ToLower(tok)) {
			continue
		}
		if rest := strings.TrimLeft(expr[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		names = append(names, tok)
	}
	return names
}

func TestMetricNamesAreFoundInPromQL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le, $node_label) (rate(a_bucket{$node_label=~"$node"}[$__rate_interval])))`, []string{"a_bucket"}},
		{`100 * max by (pool) (b) / max by (pool) (c)`, []string{"b", "c"}},
		{`count(d{peer=~"x"} == 0) or vector(0)`, []string{"d"}},
		{`sum(rate(e[5m] offset 1d)) by (state) > bool 3`, []string{"e"}},
		{`label_replace(f, "dst", "$1", "src", "(.*)") unless on (peer) g`, []string{"f", "g"}},
	} {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%s) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// TestDashboardUsesTheDocumentedMetrics keeps config/grafana/bgplb.json
// and docs/metrics.md in step: a panel may only query documented metrics,
// and every documented metric appears in some panel.
func TestDashboardUsesTheDocumentedMetrics(t *testing.T) {
	t.Parallel()
	documented := documentedMetrics(t)
	raw, err := os.ReadFile("grafana/bgplb.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/bgplb.json: %v", err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d predates datasource references by uid", d.SchemaVersion)
	}

	variables := map[string]bool{}
	hasDatasource := false
	for _, v := range d.Templating.List {
		variables[v.Name] = true
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDatasource = true
		}
	}
	if !hasDatasource {
		t.Error(`no template variable "datasource" of type datasource for prometheus`)
	}
	checkDatasource := func(where string, ds *datasourceRef) {
		if ds == nil {
			return // inherits the panel's
		}
		if ds.UID != "${datasource}" && ds.UID != "$datasource" {
			t.Errorf("%s: datasource uid %q, want the ${datasource} variable", where, ds.UID)
		}
	}
	checkVariables := func(where, text string) {
		for _, m := range grafanaVariable.FindAllStringSubmatch(text, -1) {
			name := m[1] + m[2] + m[3]
			if _, err := strconv.Atoi(name); err == nil {
				continue // $1 in a label_replace replacement
			}
			if !variables[name] && !strings.HasPrefix(name, "__") {
				t.Errorf("%s: uses $%s, which is no template variable", where, name)
			}
		}
	}

	used := map[string]bool{}
	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			where := "panel " + strconv.Quote(p.Title)
			if other, dup := ids[p.ID]; dup {
				t.Errorf("%s has the id %d of panel %q", where, p.ID, other)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			checkDatasource(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s has no queries", where)
			}
			for _, target := range p.Targets {
				checkDatasource(where, target.Datasource)
				checkVariables(where, target.Expr+" "+target.LegendFormat)
				names := metricNames(target.Expr)
				if len(names) == 0 {
					t.Errorf("%s: %q selects no metric", where, target.Expr)
				}
				for _, name := range names {
					base, err := documentedBase(documented, name)
					if err != "" {
						t.Errorf("%s: %s", where, err)
						continue
					}
					used[base] = true
				}
			}
		}
	}
	walk(d.Panels)

	for name := range documented {
		if !used[name] {
			t.Errorf("%s is documented in docs/metrics.md but no panel of grafana/bgplb.json shows it", name)
		}
	}
}

// documentedBase maps a series name to the documented metric it belongs
// to, or says why it belongs to none: a histogram is queried through its
// _bucket, _sum and _count series, never by its own name.
func documentedBase(documented map[string]string, name string) (string, string) {
	switch documented[name] {
	case "":
	case "histogram", "summary":
		return "", name + " is a " + documented[name] + "; query its _bucket, _sum or _count series"
	default:
		return name, ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		switch documented[base] {
		case "histogram":
			return base, ""
		case "summary":
			if suffix != "_bucket" {
				return base, ""
			}
		}
	}
	return "", name + " is not documented in docs/metrics.md"
}
