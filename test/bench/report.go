package main

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeDisruptionReport writes the disruption table as Markdown and a bar
// chart of broken connections as SVG into dir.
func writeDisruptionReport(dir string, rows []disruptionRow) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "broken-connections.svg"), []byte(disruptionChart(rows)), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Broken connections per event\n\n")
	fmt.Fprintf(&b, "Written by `make disruption-report` on %s: a lab of three nodes and an FRR router,\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "a fresh lab per run, %d busy TCP connections from a client through the router to a\n", firstConns(rows))
	b.WriteString("Service address, and a probe opening new connections every 20 ms. A connection counts as\n")
	b.WriteString("broken when it is reset or stops answering (`reset/hung` splits them). The victim is node-1;\n")
	b.WriteString("`endpoint move` moves a Local Service's pod from node-1 to node-2. Every connection takes the\n")
	b.WriteString("path it takes in a cluster: the router hashes its headers (5-tuple) to a node, kube-proxy\n")
	b.WriteString("(nftables mode) on that node translates it to the Service's pod, on that node or another, and\n")
	b.WriteString("the pod answers. What changed from the figures measured before that, and why: [history.md](history.md).\n\n")
	b.WriteString("![broken connections per event](broken-connections.svg)\n\n")
	b.WriteString("| router hashing | event | mitigation | | broken | reset/hung | failed new | converged |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d/%d | %d/%d | %d/%d | %.2f s |\n", r.hashing, r.event, r.mitigation, r.state(),
			r.broken, r.conns, r.reset, r.hung, r.failed, r.attempts, r.converged.Seconds())
	}
	b.WriteString("\n`converged` runs until the router's kernel next hops were final; for a restart, until the node's\n")
	b.WriteString("session was back with all three next hops; for a held addition, until the node reported it held.\n")
	b.WriteString("`hash-threshold` is the kernel multipath route FRR installs; `resilient` is the same next hops in a\n")
	b.WriteString("resilient nexthop group (128 buckets, idle timer 120 s) that the lab keeps in step with FRR.\n\n")
	b.WriteString("Reading it: without the director, a node that leaves (crash, drain, endpoint move) takes its own connections with it\n")
	b.WriteString("whatever else is turned on. BFD shortens how long the router sends new connections to a node that is\n")
	b.WriteString("gone (failed new); a drain stops new ones before the node stops forwarding. Under hash-threshold a removal\n")
	b.WriteString("also re-hashes connections between the nodes that stay, so it breaks a third to a half depending on\n")
	b.WriteString("the leaving node's place in the router's order; a resilient group breaks only the leaving node's\n")
	b.WriteString("third. Graceful restart keeps a restart from changing anything, and an addition hold keeps a join\n")
	b.WriteString("from changing anything until its window; a resilient group already spares busy connections on a join.\n\n")
	b.WriteString("The `director` rows turn on the director for the Service's pool ([docs/director.md](../director.md)):\n")
	b.WriteString("every node forwards each packet to the node that owns its connection, so the router's hashing no\n")
	b.WriteString("longer matters. A drain, a join and an endpoint move (the old pod not ready but still serving, as\n")
	b.WriteString("during a rolling update) then break no connection in either hashing mode; a crash breaks only the\n")
	b.WriteString("connections the crashed node owned (at most about a third); a restart breaks none. The\n")
	b.WriteString("pool's drain timeout was 15 s, longer than any measurement, and traffic started once every node\n")
	b.WriteString("forwarded by the same plan (docs/director.md, \"Known limits\").\n")
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}

func firstConns(rows []disruptionRow) int {
	if len(rows) == 0 {
		return 0
	}
	return rows[0].conns
}

// The chart's geometry, in pixels: the plot's left and top margins and
// height, the width of a bar, and the gap between two events' groups.
const (
	chartLeft, chartTop, chartPlotH = 60, 40, 300
	chartBarW, chartGap             = 22, 36
)

// chartSeries is one bar of each event's group: a hashing mode with the
// event's mitigation off or on, or with the director, in its own colour.
type chartSeries struct {
	hashing string
	variant string
	color   string
}

// Variants of a series.
const (
	variantOff      = "mitigation off"
	variantOn       = "mitigation on"
	variantDirector = "director"
)

// variantOf is the series variant of a row.
func variantOf(r disruptionRow) string {
	switch {
	case r.mitigation == variantDirector:
		return variantDirector
	case r.on:
		return variantOn
	}
	return variantOff
}

// disruptionChart draws, per event, one bar per hashing mode and
// mitigation state: the share of busy connections that broke.
func disruptionChart(rows []disruptionRow) string {
	events, all := chartLayout(rows)
	groupW := len(all)*chartBarW + chartGap
	width := chartLeft + len(events)*groupW + 20
	height := chartTop + chartPlotH + 100 + 20*len(all)/3
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">Busy connections broken per event (%% of %d)</text>`+"\n", chartLeft, firstConns(rows))
	for pct := 0; pct <= 100; pct += 25 {
		y := chartTop + chartPlotH - pct*chartPlotH/100
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", chartLeft, y, width-20, y)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d%%</text>`+"\n", chartLeft-6, y+4, pct)
	}
	for ei, ev := range events {
		x0 := chartLeft + ei*groupW + chartGap/2
		chartBars(&b, rows, ev, all, x0)
		chartEventLabel(&b, rows, ev, x0+len(all)*chartBarW/2)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", chartLeft, chartTop+chartPlotH, width-20, chartTop+chartPlotH)
	chartLegend(&b, all)
	b.WriteString("</svg>\n")
	return b.String()
}

// chartLayout returns the events in the order the rows first show them,
// and the series of each event's group: per hashing mode, mitigation off
// then on.
func chartLayout(rows []disruptionRow) (events []string, all []chartSeries) {
	var hashings []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen["e:"+r.event] {
			seen["e:"+r.event] = true
			events = append(events, r.event)
		}
		if !seen["h:"+r.hashing] {
			seen["h:"+r.hashing] = true
			hashings = append(hashings, r.hashing)
		}
	}
	palette := [][3]string{{"#c0392b", "#27ae60", "#2471a3"}, {"#e59866", "#82e0aa", "#85c1e9"}}
	for i, h := range hashings {
		colors := palette[i%len(palette)]
		all = append(all, chartSeries{h, variantOff, colors[0]}, chartSeries{h, variantOn, colors[1]}, chartSeries{h, variantDirector, colors[2]})
	}
	return events, all
}

// chartBars draws the bars of event ev's group from x0 on, each labelled
// with its percentage.
func chartBars(b *strings.Builder, rows []disruptionRow, ev string, all []chartSeries, x0 int) {
	for si, s := range all {
		for _, r := range rows {
			if r.event != ev || r.hashing != s.hashing || variantOf(r) != s.variant || r.conns == 0 {
				continue
			}
			share := float64(r.broken) / float64(r.conns)
			h := int(share * chartPlotH)
			x := x0 + si*chartBarW
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s, %s, %s %s: %d/%d</title></rect>`+"\n",
				x, chartTop+chartPlotH-h, chartBarW-2, h, s.color, html.EscapeString(r.hashing), html.EscapeString(ev),
				html.EscapeString(r.mitigation), onOff(r.on), r.broken, r.conns)
			fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="10">%.0f</text>`+"\n", x+chartBarW/2-1, chartTop+chartPlotH-h-3, 100*share)
		}
	}
}

// chartEventLabel writes event ev's name and its mitigation under its
// group, centred on cx.
func chartEventLabel(b *strings.Builder, rows []disruptionRow, ev string, cx int) {
	mitigation := ""
	for _, r := range rows {
		if r.event == ev && variantOf(r) != variantDirector {
			mitigation = r.mitigation
			break
		}
	}
	// "speaker restart (SIGTERM)" takes two lines, so that labels of
	// neighbouring groups do not run into each other.
	name, detail, _ := strings.Cut(ev, " (")
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", cx, chartTop+chartPlotH+18, html.EscapeString(name))
	if detail != "" {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">(%s</text>`+"\n", cx, chartTop+chartPlotH+32, html.EscapeString(detail))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", cx, chartTop+chartPlotH+48, html.EscapeString(mitigation))
}

// chartLegend names the colour of each series, three to a line.
func chartLegend(b *strings.Builder, all []chartSeries) {
	for si, s := range all {
		x := chartLeft + (si%3)*260
		y := chartTop + chartPlotH + 74 + (si/3)*20
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, y-10, s.color)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s, %s</text>`+"\n", x+18, y, html.EscapeString(s.hashing), s.variant)
	}
}
