package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
)

// ANSI colors of the text output.
const (
	colorNone   = ""
	colorRed    = "31"
	colorGreen  = "32"
	colorYellow = "33"
)

// listLimit is how many nodes a text cell names before it counts the rest.
const listLimit = 6

// colorMode is --color.
type colorMode string

const (
	colorAuto   colorMode = "auto"
	colorAlways colorMode = "always"
	colorNever  colorMode = "never"
)

// useColor decides --color auto: color only on a terminal, and not when
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func useColor(mode colorMode, w io.Writer) bool {
	switch mode {
	case colorAlways:
		return true
	case colorNever:
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// isTerminal tells whether w is a terminal (a character device; /dev/null
// is one too, where color does no harm).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func writeStatusJSON(w io.Writer, r statusReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}

// writeStatusText writes the report as four tables, then its problems.
func writeStatusText(w io.Writer, r statusReport, color bool) error {
	var b strings.Builder
	p := painter(color)
	writeNodes(&b, r, p)
	b.WriteString("\n")
	writeSessions(&b, r, p)
	b.WriteString("\n")
	writeServices(&b, r, p)
	b.WriteString("\n")
	writePools(&b, r, p)
	b.WriteString("\n")
	writeProblems(&b, r, p)
	_, err := io.WriteString(w, b.String())
	return err
}

// painter colors text when color output is on.
type painter bool

func (p painter) paint(text, color string) string {
	if !p || color == colorNone || text == "" {
		return text
	}
	return "\x1b[" + color + "m" + text + "\x1b[0m"
}

func writeNodes(b *strings.Builder, r statusReport, p painter) {
	draining := 0
	for _, n := range r.Nodes {
		if n.Draining {
			draining++
		}
	}
	fmt.Fprintf(b, "Nodes: %d, %d draining\n", len(r.Nodes), draining)
	if len(r.Nodes) == 0 {
		return
	}
	t := table{header: []string{"NODE", "ESTABLISHED", "NOTES"}}
	for _, n := range r.Nodes {
		established := "-"
		if n.SpeakerStatus {
			established = fmt.Sprintf("%d/%d", n.Established, n.Sessions)
		}
		notes := nodeNotes(n)
		if n.Draining && n.DrainUntil != nil {
			notes = append(notes, "paths withdrawn at "+when(*n.DrainUntil, r.GeneratedAt))
		}
		color := colorNone
		if len(notes) > 0 {
			color = colorYellow
		}
		t.add(cell{text: n.Name}, cell{text: established}, cell{text: strings.Join(notes, "; "), color: color})
	}
	t.write(b, p)
}

// nodeNotes says what is special about a node: a missing speaker status or
// Node, no sessions, and why it drains or why its cordon does not.
func nodeNotes(n nodeReport) []string {
	var notes []string
	switch {
	case !n.SpeakerStatus:
		notes = append(notes, "no speaker status (no BGPNodeStatus)")
	case n.Sessions == 0:
		notes = append(notes, "the speaker reports no BGP session (no BGPPeer selects the node?)")
	}
	if n.NodeMissing {
		notes = append(notes, "BGPNodeStatus of a node that does not exist")
	}
	if n.Excluded {
		notes = append(notes, excludedText)
	}
	if n.DrainAnnotation {
		notes = append(notes, drainAnnotationText)
	}
	if n.Cordoned {
		notes = append(notes, cordonText(n.DrainOnCordonBy))
	}
	return notes
}

// How the text output words the causes of a drain, for nodes and for the
// Services they do not announce alike.
const (
	excludedText        = "excluded (label " + announce.ExcludeLabel + ")"
	drainAnnotationText = "draining (annotation " + v1alpha1.AnnotationDrain + ")"
)

// cordonText says whether a cordon drains, naming the advertisements that
// drain on it.
func cordonText(drainOnCordonBy []string) string {
	switch len(drainOnCordonBy) {
	case 0:
		return "cordoned (no advertisement drains on cordon, so it announces as usual)"
	case 1:
		return "cordoned (advertisement " + drainOnCordonBy[0] + " drains on cordon)"
	}
	return "cordoned (advertisements " + nameList(drainOnCordonBy) + " drain on cordon)"
}

func writeSessions(b *strings.Builder, r statusReport, p painter) {
	established := 0
	for _, s := range r.Sessions {
		if s.Established {
			established++
		}
	}
	fmt.Fprintf(b, "Sessions: %d of %d Established\n", established, len(r.Sessions))
	if len(r.Sessions) > 0 {
		t := table{header: []string{"NODE", "PEER", "ADDRESS", "STATE", "UP/DOWN", "PREFIXES", "BFD", "GR", "LAST ERROR"}}
		for _, s := range r.Sessions {
			stateColor := colorRed
			if s.Established {
				stateColor = colorGreen
			}
			gr, prefixes := "-", "-"
			if s.Established {
				gr = yesNo(s.GracefulRestart)
			}
			if s.PrefixesSent != nil {
				prefixes = strconv.Itoa(int(*s.PrefixesSent))
			}
			t.add(cell{text: s.Node}, cell{text: s.Peer}, cell{text: dash(s.PeerAddress)},
				cell{text: dash(s.State), color: stateColor}, cell{text: upDown(s.Seconds)},
				cell{text: prefixes}, cell{text: dash(s.BFD), color: bfdColor(s.BFD)},
				cell{text: gr}, cell{text: s.LastError})
		}
		t.write(b, p)
	}
	for _, problem := range r.ConfigurationProblems {
		fmt.Fprintf(b, "%s\n", p.paint(problem.text(), colorRed))
	}
}

func writeServices(b *strings.Builder, r statusReport, p painter) {
	pending, unannounced := 0, 0
	for _, s := range r.Services {
		switch {
		case s.Pending:
			pending++
		case !s.Announced:
			unannounced++
		}
	}
	scope := ""
	if r.Namespace != "" {
		scope = " in namespace " + r.Namespace
	}
	fmt.Fprintf(b, "Services%s: %d, %d without an address, %d announced by no node\n", scope, len(r.Services), pending, unannounced)
	if len(r.Services) == 0 {
		return
	}
	t := table{header: []string{"SERVICE", "ADDRESSES", "POOL", "POLICY", "ANNOUNCED BY"}}
	for _, s := range r.Services {
		if s.Pending {
			// kubectl shows <pending> for a LoadBalancer without an
			// address; the line below says why.
			t.add(cell{text: s.Name}, cell{text: "<pending>", color: colorRed}, cell{text: dash(s.Pool)},
				cell{text: s.ExternalTrafficPolicy}, cell{text: "-"})
			t.line(cell{text: "pending: " + pendingReason(s) + eventAge(s.PendingReasonAt, r.GeneratedAt), color: colorRed})
			continue
		}
		announced := cell{text: nameList(s.AnnouncedBy)}
		if !s.Announced {
			announced = cell{text: "NONE: not announced", color: colorRed}
		}
		t.add(cell{text: s.Name}, cell{text: strings.Join(s.Addresses, ",")}, cell{text: dash(s.Pool)},
			cell{text: s.ExternalTrafficPolicy}, announced)
		if len(s.Held) > 0 {
			held := make([]string, len(s.Held))
			for i, h := range s.Held {
				held[i] = h.Node + heldUntil(h.Until, r.GeneratedAt)
			}
			t.line(cell{text: "held: " + nameList(held), color: colorYellow})
		}
		for _, why := range whyNotLines(s, r.Nodes) {
			t.line(cell{text: why})
		}
		for _, warning := range s.Warnings {
			t.line(cell{text: "warning: " + warning, color: colorYellow})
		}
	}
	t.write(b, p)
}

// whyNotLines groups the nodes that do not announce a Service by their
// reasons, a line per group, leaving out held nodes, which the held line
// shows.
func whyNotLines(s serviceReport, nodes []nodeReport) []string {
	if len(s.AnnouncedBy) == 0 && whyNotAll(s, reasonNoReadyEndpoint) {
		return []string{"not announced" + unannouncedBecause(s)}
	}
	annotated := map[string]bool{}
	for _, n := range nodes {
		annotated[n.Name] = n.DrainAnnotation
	}
	var order []string
	groups := map[string][]string{}
	for _, n := range s.NotAnnouncing {
		if len(n.Reasons) == 1 && n.Reasons[0] == reasonHeld {
			continue
		}
		texts := make([]string, len(n.Reasons))
		for i, reason := range n.Reasons {
			texts[i] = reasonText(reason, n, annotated[n.Node])
		}
		why := strings.Join(texts, ", ")
		if _, ok := groups[why]; !ok {
			order = append(order, why)
		}
		groups[why] = append(groups[why], n.Node)
	}
	lines := make([]string, len(order))
	for i, why := range order {
		lines[i] = "not announced by " + nameList(groups[why]) + ": " + why
	}
	return lines
}

// reasonText words a reason a node does not announce a Service, with the
// cause of a drain; annotated tells whether the node carries the drain
// annotation.
func reasonText(reason string, n notAnnouncingReport, annotated bool) string {
	switch reason {
	case reasonExcluded:
		return excludedText
	case reasonDraining:
		if annotated {
			return drainAnnotationText
		}
		return "draining (its speaker says so)"
	case reasonCordoned:
		return cordonText(n.DrainOnCordonBy)
	}
	return reason
}

func writePools(b *strings.Builder, r statusReport, p painter) {
	fmt.Fprintf(b, "Pools: %d\n", countPools(r.Pools))
	if len(r.Pools) == 0 {
		return
	}
	t := table{header: []string{"POOL", "FAMILY", "ASSIGNED", "USED", "STATUS"}}
	for _, pl := range r.Pools {
		assigned, used := "-", "-"
		if pl.Family != "" {
			assigned = formatCount(big.NewInt(pl.Assigned)) + "/" + formatCount(countOf(pl.Total))
			used = strconv.FormatFloat(pl.UsedPercent, 'f', 1, 64) + "%"
		}
		status := cell{text: "Accepted"}
		if !pl.Accepted {
			status = cell{text: "not accepted: " + pl.Message, color: colorRed}
		}
		t.add(cell{text: pl.Name}, cell{text: dash(pl.Family)}, cell{text: assigned}, cell{text: used}, status)
	}
	t.write(b, p)
}

func countPools(pools []poolReport) int {
	n := 0
	for i := range pools {
		if i == 0 || pools[i-1].Name != pools[i].Name {
			n++
		}
	}
	return n
}

func writeProblems(b *strings.Builder, r statusReport, p painter) {
	if r.Healthy {
		fmt.Fprintf(b, "%s\n", p.paint("No problems.", colorGreen))
		return
	}
	fmt.Fprintf(b, "%s\n", p.paint(fmt.Sprintf("Problems (%d):", len(r.Problems)), colorRed))
	for _, problem := range r.Problems {
		fmt.Fprintf(b, "  - %s\n", problem)
	}
}

// upDown is how long a session has been in its state, as kubectl writes
// ages.
func upDown(seconds *int64) string {
	if seconds == nil {
		return "-"
	}
	return duration.HumanDuration(time.Duration(*seconds) * time.Second)
}

// eventAge writes " (AllocationFailed Event, 3m ago)", or nothing without
// a time.
func eventAge(at *time.Time, now time.Time) string {
	if at == nil {
		return ""
	}
	return " (" + v1alpha1.EventReasonAllocationFailed + " Event, " + duration.HumanDuration(max(now.Sub(*at), 0)) + " ago)"
}

// heldUntil writes " until TIME (in 12m)", or nothing without a time.
func heldUntil(until *time.Time, now time.Time) string {
	if until == nil {
		return ""
	}
	return " until " + when(*until, now)
}

// when writes a time and how far it is from now: "TIME (in 12m)" or
// "TIME (3s ago)".
func when(t, now time.Time) string {
	rel := "in " + duration.HumanDuration(t.Sub(now))
	if t.Before(now) {
		rel = duration.HumanDuration(now.Sub(t)) + " ago"
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

func bfdColor(state string) string {
	switch state {
	case "":
		return colorNone
	case bfdUp:
		return colorGreen
	}
	return colorRed
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nameList joins names, counting those past listLimit.
func nameList(names []string) string {
	if len(names) <= listLimit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:listLimit], ", "), len(names)-listLimit)
}

// formatCount writes an address count exactly up to a million, with an SI
// prefix up to 2^32 (the size of all of IPv4), and beyond that as a power
// of two, the way IPv6 sizes are thought of: a /64 pool is "2^64", whether
// or not its subnet-router anycast address is left out. The exponent has
// one decimal when it is not whole ("2^64.6" for three /65s), so that the
// figure stays within a percent or so, like the SI form.
func formatCount(n *big.Int) string {
	if n.Cmp(big.NewInt(1<<32)) > 0 {
		return "2^" + strconv.FormatFloat(math.Round(10*log2(n))/10, 'f', -1, 64)
	}
	c := n.Int64()
	if c < 1_000_000 {
		return strconv.FormatInt(c, 10)
	}
	v, prefixes := float64(c), "kMGTPE"
	i := -1
	for v >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 4 {
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	return s + prefixes[i:i+1]
}

// log2 returns the base-2 logarithm of the positive n.
func log2(n *big.Int) float64 {
	mantissa := new(big.Float)
	exp := new(big.Float).SetInt(n).MantExp(mantissa) // n = mantissa × 2^exp, mantissa in [0.5, 1)
	m, _ := mantissa.Float64()
	return float64(exp) + math.Log2(m)
}

// countOf reads a count that poolReports wrote, which is always a decimal
// integer.
func countOf(n json.Number) *big.Int {
	c, _ := new(big.Int).SetString(string(n), 10)
	if c == nil {
		return new(big.Int)
	}
	return c
}

// cell is one cell of a table, with the color it gets on a terminal.
type cell struct {
	text, color string
}

// table aligns columns by their visible width, so colored cells line up
// (text/tabwriter would count the escape sequences), and carries free
// lines below rows that do not count for the widths.
type table struct {
	header []string
	rows   []textRow
}

type textRow struct {
	cells []cell
	line  *cell // a free line instead of cells
}

// lineIndent starts a free line, setting it off from the rows.
const lineIndent = "  "

func (t *table) add(cells ...cell) { t.rows = append(t.rows, textRow{cells: cells}) }

func (t *table) line(c cell) { t.rows = append(t.rows, textRow{line: &c}) }

func (t *table) write(b *strings.Builder, p painter) {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r.cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	writeRow := func(cells []cell) {
		// The last non-empty cell ends the line, without padding.
		last := len(cells) - 1
		for last > 0 && cells[last].text == "" {
			last--
		}
		for i, c := range cells[:last+1] {
			b.WriteString(p.paint(c.text, c.color))
			if i < last {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteString("\n")
	}
	header := make([]cell, len(t.header))
	for i, h := range t.header {
		header[i] = cell{text: h}
	}
	writeRow(header)
	for _, r := range t.rows {
		if r.line != nil {
			b.WriteString(lineIndent + p.paint(r.line.text, r.line.color) + "\n")
			continue
		}
		writeRow(r.cells)
	}
}
