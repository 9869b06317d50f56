package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// BIRD is the lab's router as BIRD 2: one bird daemon in the router
// namespace, with a BGP session per node, and its kernel protocols merging
// equal paths into ECMP kernel routes. With static neighbours each node has
// a protocol of its own; with dynamic ones a single protocol with a
// neighbor range spawns one protocol per node that connects.
type BIRD struct {
	NS      string
	dir     string
	sock    string
	pidfile string
	proc    *process
}

const (
	birdBin  = "/usr/sbin/bird"
	birdcBin = "/usr/sbin/birdc"
)

// birdConfig is the router's configuration. Notes:
//   - The kernel protocols' "merge paths" turns the best path and every
//     path BIRD considers equal to it (same preference, LOCAL_PREF, AS path
//     length, origin, MED and eBGP/iBGP kind) into one ECMP kernel route.
//   - "direct" and "gateway direct" make BIRD take each path's NEXT_HOP as
//     the kernel gateway on the shared LAN, also for iBGP (which BIRD
//     otherwise treats as multihop with "gateway recursive", needing the
//     LAN in an IGP table) and for the IPv6 paths that arrive over the
//     IPv4 session with the node's global IPv6 address as next hop.
//   - The nodes only connect out, so the router is passive.
var birdConfig = template.Must(template.New("bird").Parse(`# bgplb lab router {{.NS}}
router id {{.RouterID}};
log stderr all;

protocol device {
	scan time 10;
}

protocol kernel kernel4 {
	ipv4 { import none; export all; };
	merge paths on;
}

protocol kernel kernel6 {
	ipv6 { import none; export all; };
	merge paths on;
}

# RFC 8326: a path carrying the graceful-shutdown community 65535:0 gets
# LOCAL_PREF 0, so it leaves the multipath set while it is still announced.
filter honour_graceful_shutdown {
	if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
	accept;
}
{{if .BFD}}
# BFD sessions start when a BGP protocol asks for one ("bfd on" below);
# the timers are the lab's 3 x 100 ms.
protocol bfd {
	interface "*" {
		min rx interval 100 ms;
		min tx interval 100 ms;
		multiplier 3;
	};
}
{{end}}
template bgp nodes {
	local {{.RouterID}} as {{.ASN}};
	direct;
	passive on;
	hold time 9;
	startup hold time 9;
	keepalive time 3;
	connect retry time 1;
	error wait time 1, 5;
{{- if .Password}}
	password "{{.Password}}";
{{- end}}
	graceful restart aware;
{{- if .BFD}}
	bfd on;
{{- end}}
	ipv4 { import filter honour_graceful_shutdown; export none; gateway direct; };
	ipv6 { import filter honour_graceful_shutdown; export none; gateway direct; };
}
{{if .Range}}
# Dynamic neighbours: a session from any address of the range spawns a
# protocol from this one, named {{.DynamicName}}1, {{.DynamicName}}2, ... in
# the order the nodes connect, so "show protocols all" is what maps a
# protocol to its node's address.
protocol bgp nodes_range from nodes {
	neighbor range {{.Range}} as {{.NodeASN}};
	dynamic name "{{.DynamicName}}";
}
{{else}}
{{- range .Neighbours}}
protocol bgp {{.Name}} from nodes {
	neighbor {{.Addr}} as {{$.NodeASN}};
}
{{end}}
{{- end}}`))

// birdDynamicName is the prefix of the names BIRD gives the protocols it
// spawns for dynamic neighbours. It differs from the static protocols'
// names (node0, ...) because its numbers follow the order of connection,
// not the nodes' numbers.
const birdDynamicName = "peer"

// birdConf renders the router's configuration for the lab's nodes and
// kind of neighbours.
func (l *Lab) birdConf(ns string) (string, error) {
	if strings.ContainsAny(l.cfg.RouterPassword, "\"\\\n") {
		return "", fmt.Errorf("the BIRD lab router cannot quote password %q", l.cfg.RouterPassword)
	}
	// The template shared by both kinds of neighbours carries everything
	// but the neighbours themselves.
	data := map[string]any{
		"NS": ns, "RouterID": RouterLAN4, "ASN": RouterASN, "NodeASN": l.NodeASN(),
		"Password": l.cfg.RouterPassword, "BFD": l.cfg.BFD,
	}
	switch l.cfg.Neighbours {
	case "", StaticNeighbours:
		type neighbour struct{ Name, Addr string }
		var neighbours []neighbour
		for i, n := range l.Nodes {
			neighbours = append(neighbours, neighbour{Name: fmt.Sprintf("node%d", i), Addr: n.Addr4.String()})
		}
		data["Neighbours"] = neighbours
	case DynamicNeighbours:
		// The nodes peer from their IPv4 LAN addresses only (the IPv6
		// paths travel over those sessions), so one IPv4 range is all
		// the router needs.
		data["Range"] = NodeLAN4
		data["DynamicName"] = birdDynamicName
	default:
		return "", fmt.Errorf("unknown kind of neighbours %q (want %q or %q)", l.cfg.Neighbours, StaticNeighbours, DynamicNeighbours)
	}
	var b strings.Builder
	if err := birdConfig.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render the BIRD configuration: %w", err)
	}
	return b.String(), nil
}

func startBIRD(l *Lab) (Router, error) {
	for _, bin := range []string{birdBin, birdcBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("BIRD is not installed (apt-get install bird2): %w", err)
		}
	}
	b := &BIRD{NS: l.Prefix + "-router", dir: filepath.Join(l.Dir, "bird")}
	conf, err := l.birdConf(b.NS)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	b.sock = filepath.Join(b.dir, "bird.ctl")
	b.pidfile = filepath.Join(b.dir, "bird.pid")
	confPath := filepath.Join(b.dir, "bird.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// In the foreground (-f) bird is the lab's child: it logs to the lab's
	// bird.log and dies with the test process.
	b.proc, err = l.spawn("bird", "ip", "netns", "exec", b.NS,
		birdBin, "-f", "-c", confPath, "-s", b.sock, "-P", b.pidfile)
	if err != nil {
		return nil, err
	}
	err = b.proc.waitReady(context.Background(), 10*time.Second, "BIRD answers birdc", func() (bool, string) {
		out, err := b.Birdc("show status")
		return err == nil && strings.Contains(out, "Daemon is up and running"), fmt.Sprint(out, err)
	})
	if err != nil {
		_ = b.stop()
		return nil, err
	}
	return b, nil
}

func (b *BIRD) stop() error {
	if b.proc != nil {
		b.proc.terminate(syscall.SIGTERM)
	} else {
		stopPIDFile(b.pidfile)
	}
	var errs []error
	for _, f := range []string{b.sock, b.pidfile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Birdc runs one birdc command against the router and returns its output
// without birdc's greeting line.
func (b *BIRD) Birdc(command string) (string, error) {
	out, err := run(birdcBin, append([]string{"-s", b.sock}, strings.Fields(command)...)...)
	if err != nil {
		return out, err
	}
	if i := strings.IndexByte(out, '\n'); i >= 0 && strings.HasPrefix(out, "BIRD ") {
		out = out[i+1:]
	}
	return out, nil
}

// Established returns the neighbours whose session is Established. It
// reads each BGP protocol's neighbour address from "show protocols all",
// which serves static protocols and those spawned for dynamic neighbours
// alike.
func (b *BIRD) Established() ([]string, error) {
	protocols, err := b.Protocols()
	if err != nil {
		return nil, err
	}
	up := []string{}
	for _, p := range protocols {
		if p.Proto == "BGP" && p.State == "up" && p.Info == "Established" && p.Neighbour != "" {
			up = append(up, p.Neighbour)
		}
	}
	slices.Sort(up)
	return up, nil
}

// Protocols returns the router's protocols as "show protocols all" shows
// them.
func (b *BIRD) Protocols() ([]BIRDProtocol, error) {
	out, err := b.Birdc("show protocols all")
	if err != nil {
		return nil, err
	}
	protocols, err := parseBIRDProtocols(out)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	return protocols, nil
}

// BIRDProtocol is one protocol of BIRD's "show protocols all".
type BIRDProtocol struct {
	// Name is the protocol's name; State is BIRD's (up, start, ...), Info
	// the protocol's own, such as a BGP session's "Established".
	Name, Proto, State, Info string
	// Neighbour is a BGP protocol's neighbour address; a protocol with a
	// neighbor range has Range instead.
	Neighbour, Range string
}

// parseBIRDProtocols reads "show protocols all": a header line, then per
// protocol a line like
//
//	peer1      BGP        ---        up     10:47:18.012  Established
//
// followed by indented detail lines, among them a BGP protocol's
// "Neighbor address: 198.18.0.10", and an empty line.
func parseBIRDProtocols(out string) ([]BIRDProtocol, error) {
	var protocols []BIRDProtocol
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(line, "Name "):
		case !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t"):
			f := strings.Fields(line)
			if len(f) < 4 {
				return nil, fmt.Errorf("protocol line %q has %d fields, want at least 4", line, len(f))
			}
			p := BIRDProtocol{Name: f[0], Proto: f[1], State: f[3]}
			// The fifth field is the time since the last state change;
			// what follows it is the protocol's own state, such as
			// "Established" or "Passive", perhaps with a reason.
			if len(f) > 5 {
				p.Info = strings.Join(f[5:], " ")
			}
			protocols = append(protocols, p)
		case len(protocols) == 0:
			return nil, fmt.Errorf("detail line %q before any protocol", line)
		default:
			p := &protocols[len(protocols)-1]
			if addr, ok := strings.CutPrefix(trimmed, "Neighbor address:"); ok {
				p.Neighbour = strings.TrimSpace(addr)
			}
			if r, ok := strings.CutPrefix(trimmed, "Neighbor range:"); ok {
				p.Range = strings.TrimSpace(r)
			}
		}
	}
	return protocols, nil
}

// birdPath is one route of "show route ... all" with what BIRD needs to
// decide whether it joins the best route's ECMP set.
type birdPath struct {
	RIBPath
	best      bool
	stale     bool
	pref      int
	origin    string
	pathLen   int
	neighbour string // first AS of the path, "" for a path from the own AS
}

// BGPPaths returns the paths of one prefix in the router's BGP table (empty
// if the prefix is absent). A path is Multipath when the kernel protocols'
// "merge paths" puts it into the ECMP route: the best path and every path
// equal to it by BIRD's rules.
func (b *BIRD) BGPPaths(prefix netip.Prefix) ([]RIBPath, error) {
	out, err := b.Birdc(fmt.Sprintf("show route %s all", prefix.Masked()))
	if strings.Contains(out, "Network not found") {
		// birdc exits with status 1 for this.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	parsed, err := parseBIRDRoutes(out)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	var best *birdPath
	for i := range parsed {
		if parsed[i].best {
			best = &parsed[i]
		}
	}
	var paths []RIBPath
	for _, p := range parsed {
		p.Multipath = best != nil && birdMergeable(best, &p)
		paths = append(paths, p.RIBPath)
	}
	return paths, nil
}

// birdMergeable follows BIRD's rules for merging a BGP path into the best
// one (as its documentation of "merge paths" and BGP route selection
// describe them): equal preference, staleness, LOCAL_PREF, AS path length
// and origin, both iBGP or both eBGP, and equal MED when both paths come
// from the same neighbouring AS.
func birdMergeable(best, p *birdPath) bool {
	if p == best || p.best {
		return true
	}
	eq := func(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if p.pref != best.pref || p.stale != best.stale || !eq(p.LocalPref, best.LocalPref) ||
		p.pathLen != best.pathLen || p.origin != best.origin {
		return false
	}
	if (p.neighbour == "") != (best.neighbour == "") {
		return false // one iBGP, one eBGP
	}
	med := func(x *int) int {
		if x == nil {
			return 0
		}
		return *x
	}
	if p.neighbour == best.neighbour && med(p.MED) != med(best.MED) {
		return false
	}
	return true
}

// parseBIRDRoutes reads the routes of "show route <net> all". A route
// starts with a line like
//
//	203.0.113.1/32       unicast [node0 10:47:18.012] * (100) [AS64512i]
//
// (later routes of the same net leave the net out) followed by
// tab-indented lines: "via <gateway> on <iface>", "Type: ...", and the
// attributes "BGP.<name>: <value>".
func parseBIRDRoutes(out string) ([]birdPath, error) {
	var paths []birdPath
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "Table "):
		case !strings.HasPrefix(line, "\t"):
			open := strings.IndexByte(line, '[')
			close := strings.IndexByte(line, ']')
			if open < 0 || close < open {
				return nil, fmt.Errorf("unexpected line %q", line)
			}
			p := birdPath{}
			rest := strings.Fields(line[close+1:])
			for _, f := range rest {
				switch {
				case f == "*":
					p.best = true
				case strings.HasPrefix(f, "("):
					// "(100)", or with flags and metric: "(100s/20)".
					n := strings.TrimPrefix(f, "(")
					end := strings.IndexFunc(n, func(r rune) bool { return r < '0' || r > '9' })
					if end < 0 {
						end = len(n)
					}
					p.pref, _ = strconv.Atoi(n[:end])
					p.stale = strings.Contains(n[end:], "s")
				}
			}
			paths = append(paths, p)
		case len(paths) == 0:
			return nil, fmt.Errorf("attribute line %q before any route", line)
		default:
			p := &paths[len(paths)-1]
			if f := strings.Fields(trimmed); len(f) >= 2 && f[0] == "via" && p.NextHop == "" {
				p.NextHop = f[1]
				continue
			}
			name, value, ok := strings.Cut(trimmed, ":")
			if !ok {
				continue
			}
			value = strings.TrimSpace(value)
			switch name {
			case "BGP.origin":
				p.origin = value
			case "BGP.as_path":
				p.ASPath = value
				p.pathLen, p.neighbour = birdPathLength(value)
			case "BGP.local_pref":
				n, err := strconv.Atoi(value)
				if err != nil {
					return nil, fmt.Errorf("local_pref %q: %w", value, err)
				}
				p.LocalPref = &n
			case "BGP.med":
				n, err := strconv.Atoi(value)
				if err != nil {
					return nil, fmt.Errorf("med %q: %w", value, err)
				}
				p.MED = &n
			case "BGP.community":
				p.Communities = birdCommunities(value)
			case "BGP.large_community":
				p.LargeCommunities = birdCommunities(value)
			}
		}
	}
	return paths, nil
}

// birdPathLength returns the length of an AS path as BIRD shows it ("64512
// 64513 {1 2}", where an AS_SET counts as one) and its first AS.
func birdPathLength(path string) (int, string) {
	n, first, inSet := 0, "", false
	for _, f := range strings.Fields(path) {
		if first == "" {
			first = strings.Trim(f, "{}()")
		}
		switch {
		case inSet:
			inSet = !strings.HasSuffix(f, "}")
		case strings.HasPrefix(f, "{"):
			n++
			inSet = !strings.HasSuffix(f, "}")
		default:
			n++
		}
	}
	return n, first
}

// wellKnownCommunities are the names FRR shows for well-known communities
// (RFC 1997, 7999, 8326, 9494), so tests can match both routers alike.
var wellKnownCommunities = map[string]string{
	"65535:0":     "graceful-shutdown",
	"65535:1":     "accept-own",
	"65535:6":     "llgr-stale",
	"65535:7":     "no-llgr",
	"65535:666":   "blackhole",
	"65535:65281": "no-export",
	"65535:65282": "no-advertise",
	"65535:65283": "local-AS",
	"65535:65284": "no-peer",
}

// birdCommunities turns BIRD's "(64512,100) (65535,65281)" or
// "(4200000000, 1, 2)" into FRR's "64512:100 no-export" or
// "4200000000:1:2".
func birdCommunities(value string) string {
	var out []string
	for _, c := range strings.Split(value, ")") {
		c = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c), "("))
		if c == "" {
			continue
		}
		parts := strings.Split(c, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		s := strings.Join(parts, ":")
		if name, ok := wellKnownCommunities[s]; ok && len(parts) == 2 {
			s = name
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// KernelNextHops returns the next hops (gateway addresses, sorted) of the
// router's kernel route for prefix.
func (b *BIRD) KernelNextHops(prefix netip.Prefix) ([]string, error) {
	return kernelNextHops(b.NS, prefix)
}

// kernelNextHops reads the gateways of a namespace's kernel route for
// prefix from "ip -j route show", sorted.
func kernelNextHops(ns string, prefix netip.Prefix) ([]string, error) {
	weights, err := kernelNextHopWeights(ns, prefix)
	if err != nil {
		return nil, err
	}
	hops := slices.Collect(maps.Keys(weights))
	slices.Sort(hops)
	return hops, nil
}

// kernelNextHopWeights returns the gateways of a namespace's kernel route
// for prefix with their multipath weights (1 when the kernel shows none).
func kernelNextHopWeights(ns string, prefix netip.Prefix) (map[string]int, error) {
	args := []string{"-j", "route", "show", prefix.String()}
	if prefix.Addr().Is6() {
		args = append([]string{"-6"}, args...)
	}
	out, err := nsRun(ns, append([]string{"ip"}, args...)...)
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
			Weight  int    `json:"weight"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	hops := map[string]int{}
	for _, r := range routes {
		if r.Gateway != "" {
			hops[r.Gateway] = 1
		}
		for _, nh := range r.Nexthops {
			hops[nh.Gateway] = max(nh.Weight, 1)
		}
	}
	return hops, nil
}
