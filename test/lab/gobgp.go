package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// GoBGP is the lab's router as Debian's gobgpd: one daemon in the router
// namespace, its gRPC API on the namespace's loopback only, and the lab
// installing its multipath routes into the namespace's kernel (see
// gobgpFIB for why the lab does that and not gobgpd).
type GoBGP struct {
	NS   string
	dir  string
	proc *process
	fib  *gobgpFIB
}

const (
	gobgpdBin = "/usr/bin/gobgpd"
	gobgpBin  = "/usr/bin/gobgp"
	// gobgpAPIHost and gobgpAPIPort are where gobgpd serves its gRPC
	// API, inside the router namespace: the loopback keeps it out of the
	// nodes' reach.
	gobgpAPIHost = "127.0.0.1"
	gobgpAPIPort = "50051"
	// gobgpGracefulShutdownLocalPref is the LOCAL_PREF the router gives a
	// path carrying the graceful-shutdown community. RFC 8326 asks for 0,
	// but gobgpd's configuration (and its API) read a LOCAL_PREF of 0 as
	// "not set" and drop the action, so the lab uses the lowest value it
	// keeps: the path leaves the multipath set all the same.
	gobgpGracefulShutdownLocalPref = 1
)

// gobgpConfig is the router's gobgpd configuration (TOML). Notes:
//   - Static and dynamic neighbours share the peer group "nodes"; they
//     differ only in how a node joins it: a [[neighbors]] entry per node,
//     or one [[dynamic-neighbors]] range (gobgpd is passive towards
//     dynamic neighbours by itself; the group is passive for both kinds,
//     as the nodes connect out).
//   - Graceful restart is on as helper for both families, so a node's
//     paths stay (stale) while its speaker restarts.
//   - use-multiple-paths makes gobgpd compute multipath sets; the lab's FIB
//     follows the same rule (gobgpMultipath).
//   - The nodes peer from their IPv4 addresses only; the IPv6 paths travel
//     over those sessions with each node's IPv6 address as next hop.
var gobgpConfig = template.Must(template.New("gobgpd").Parse(`# bgplb lab router {{.NS}}
[global.config]
  as = {{.ASN}}
  router-id = "{{.RouterID}}"

[global.use-multiple-paths.config]
  enabled = true

# RFC 8326: a path carrying the graceful-shutdown community 65535:0 gets a
# LOCAL_PREF below every other path's, so it leaves the multipath set while
# it is still announced.
[global.apply-policy.config]
  import-policy-list = ["honour-graceful-shutdown"]
  default-import-policy = "accept-route"

[[defined-sets.bgp-defined-sets.community-sets]]
  community-set-name = "graceful-shutdown"
  community-list = ["65535:0"]

[[policy-definitions]]
  name = "honour-graceful-shutdown"
  [[policy-definitions.statements]]
    name = "lower-local-pref"
    [policy-definitions.statements.conditions.bgp-conditions.match-community-set]
      community-set = "graceful-shutdown"
      match-set-options = "any"
    [policy-definitions.statements.actions]
      route-disposition = "accept-route"
    [policy-definitions.statements.actions.bgp-actions]
      set-local-pref = {{.GracefulShutdownLocalPref}}

[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "nodes"
    peer-as = {{.NodeASN}}
{{- if .Password}}
    auth-password = "{{.Password}}"
{{- end}}
  [peer-groups.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [peer-groups.transport.config]
    passive-mode = true
  [peer-groups.graceful-restart.config]
    enabled = true
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [peer-groups.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [peer-groups.afi-safis.mp-graceful-restart.config]
      enabled = true
{{if .Range}}
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "{{.Range}}"
    peer-group = "nodes"
{{- else}}
{{- range .Neighbours}}

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{{.}}"
    peer-group = "nodes"
{{- end}}
{{- end}}
`))

// gobgpConf renders the router's configuration for the lab's nodes and
// kind of neighbours.
func (l *Lab) gobgpConf(ns string) (string, error) {
	if l.cfg.BFD {
		return "", errors.New("the GoBGP lab router cannot run BFD: gobgpd 3.10 has none")
	}
	if strings.ContainsAny(l.cfg.RouterPassword, "\"\\\n") {
		return "", fmt.Errorf("the GoBGP lab router cannot quote password %q", l.cfg.RouterPassword)
	}
	data := map[string]any{
		"NS": ns, "RouterID": RouterLAN4, "ASN": RouterASN, "NodeASN": l.NodeASN(),
		"Password": l.cfg.RouterPassword, "GracefulShutdownLocalPref": gobgpGracefulShutdownLocalPref,
	}
	switch l.cfg.Neighbours {
	case "", StaticNeighbours:
		var neighbours []string
		for _, n := range l.Nodes {
			neighbours = append(neighbours, n.Addr4.String())
		}
		data["Neighbours"] = neighbours
	case DynamicNeighbours:
		// gobgpd 3.10 sets TCP-MD5 keys for configured neighbours only:
		// with a password on the peer group, a node of the range with the
		// right password never got Established (seen in the lab, while
		// the same password worked with static neighbours).
		if l.cfg.RouterPassword != "" {
			return "", fmt.Errorf("the GoBGP lab router has no TCP-MD5 password for dynamic neighbours (gobgpd 3.10 sets keys for configured neighbours only); use static neighbours")
		}
		data["Range"] = NodeLAN4
	default:
		return "", fmt.Errorf("unknown kind of neighbours %q (want %q or %q)", l.cfg.Neighbours, StaticNeighbours, DynamicNeighbours)
	}
	var b strings.Builder
	if err := gobgpConfig.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render the gobgpd configuration: %w", err)
	}
	return b.String(), nil
}

func startGoBGP(l *Lab) (Router, error) {
	for _, bin := range []string{gobgpdBin, gobgpBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("GoBGP is not installed (apt-get install gobgpd): %w", err)
		}
	}
	g := &GoBGP{NS: l.Prefix + "-router", dir: filepath.Join(l.Dir, "gobgp")}
	conf, err := l.gobgpConf(g.NS)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return nil, err
	}
	confPath := filepath.Join(g.dir, "gobgpd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// gobgpd stays in the foreground as the lab's child, logging in plain
	// text to the lab's gobgpd.log; pprof would listen on a port of the
	// router namespace for nothing.
	g.proc, err = l.spawn("gobgpd", "ip", "netns", "exec", g.NS, gobgpdBin, "-f", confPath,
		"--log-plain", "--pprof-disable", "--api-hosts", gobgpAPIHost+":"+gobgpAPIPort)
	if err != nil {
		return nil, err
	}
	err = g.proc.waitReady(context.Background(), 10*time.Second, "gobgpd answers", func() (bool, string) {
		out, err := g.Gobgp("global")
		return err == nil && strings.Contains(out, "AS:"), fmt.Sprint(out, err)
	})
	if err != nil {
		_ = g.stop()
		return nil, err
	}
	g.fib = &gobgpFIB{g: g, logf: l.logf, installed: map[netip.Prefix][]string{},
		kick: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{})}
	if err := g.fib.start(); err != nil {
		_ = g.stop()
		return nil, err
	}
	return g, nil
}

func (g *GoBGP) stop() error {
	var err error
	if g.fib != nil {
		err = g.fib.stop()
	}
	if g.proc != nil {
		g.proc.terminate(syscall.SIGTERM)
	}
	return err
}

// Gobgp runs one gobgp command against the router and returns its output.
func (g *GoBGP) Gobgp(args ...string) (string, error) {
	return nsRun(g.NS, append([]string{gobgpBin, "-u", gobgpAPIHost, "-p", gobgpAPIPort}, args...)...)
}

// LogPath is gobgpd's log file.
func (g *GoBGP) LogPath() string { return g.proc.log }

// Established returns the neighbours whose session is Established.
func (g *GoBGP) Established() ([]string, error) {
	neighbours, err := g.Neighbours()
	if err != nil {
		return nil, err
	}
	up := []string{}
	for _, n := range neighbours {
		if n.Established {
			up = append(up, n.Address)
		}
	}
	return up, nil
}

// GoBGPNeighbour is one neighbour that gobgpd knows: every configured one,
// and a dynamic one from its connection until its session ends.
type GoBGPNeighbour struct {
	Address     string
	Established bool
}

// Neighbours returns the neighbours that gobgpd knows, sorted by address.
func (g *GoBGP) Neighbours() ([]GoBGPNeighbour, error) {
	out, err := g.Gobgp("neighbor", "-j")
	if err != nil {
		return nil, err
	}
	return parseGoBGPNeighbours(out)
}

// gobgpEstablished is the value of a neighbour's session_state in gobgp's
// JSON (the API's enum, where 6 is ESTABLISHED).
const gobgpEstablished = 6

// parseGoBGPNeighbours reads "gobgp neighbor -j".
func parseGoBGPNeighbours(out string) ([]GoBGPNeighbour, error) {
	var doc []struct {
		State struct {
			Address string `json:"neighbor_address"`
			State   int    `json:"session_state"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse gobgp neighbours %q: %w", out, err)
	}
	neighbours := []GoBGPNeighbour{}
	for _, n := range doc {
		if n.State.Address == "" {
			return nil, fmt.Errorf("a gobgp neighbour without an address in %q", out)
		}
		neighbours = append(neighbours, GoBGPNeighbour{Address: n.State.Address, Established: n.State.State == gobgpEstablished})
	}
	slices.SortFunc(neighbours, func(a, b GoBGPNeighbour) int { return strings.Compare(a.Address, b.Address) })
	return neighbours, nil
}

// gobgpPath is one path of gobgp's RIB with what the multipath rule needs.
type gobgpPath struct {
	RIBPath
	best    bool
	stale   bool
	origin  int
	pathLen int
}

// gobgpRIBPath is a path as "gobgp global rib -j" shows it: the path
// attributes in a list, each with its type code (RFC 4271 and later) and
// the fields of that type.
type gobgpRIBPath struct {
	Best       bool   `json:"best"`
	Stale      bool   `json:"stale"`
	NeighborIP string `json:"neighbor-ip"`
	Attrs      []struct {
		Type    int             `json:"type"`
		Value   json.RawMessage `json:"value"`
		Metric  *int            `json:"metric"`
		Nexthop string          `json:"nexthop"`
		ASPaths []struct {
			SegmentType int      `json:"segment_type"`
			ASNs        []uint32 `json:"asns"`
		} `json:"as_paths"`
		Communities []uint32 `json:"communities"`
	} `json:"attrs"`
}

// Path attribute type codes that the lab reads.
const (
	attrOrigin           = 1
	attrASPath           = 2
	attrNextHop          = 3
	attrMED              = 4
	attrLocalPref        = 5
	attrCommunities      = 8
	attrMPReach          = 14
	attrLargeCommunities = 32
)

// parseGoBGPRIB reads "gobgp global rib -j [prefix]": an object from each
// prefix to its paths.
func parseGoBGPRIB(out string) (map[netip.Prefix][]gobgpPath, error) {
	var doc map[string][]gobgpRIBPath
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse gobgp RIB %q: %w", out, err)
	}
	rib := map[netip.Prefix][]gobgpPath{}
	for key, paths := range doc {
		prefix, err := netip.ParsePrefix(key)
		if err != nil {
			return nil, fmt.Errorf("gobgp RIB entry %q: %w", key, err)
		}
		for _, rp := range paths {
			p, err := rp.path()
			if err != nil {
				return nil, fmt.Errorf("gobgp RIB path of %s from %s: %w", key, rp.NeighborIP, err)
			}
			rib[prefix] = append(rib[prefix], p)
		}
	}
	return rib, nil
}

func (rp gobgpRIBPath) path() (gobgpPath, error) {
	p := gobgpPath{best: rp.Best, stale: rp.Stale}
	for _, a := range rp.Attrs {
		switch a.Type {
		case attrOrigin:
			if err := json.Unmarshal(a.Value, &p.origin); err != nil {
				return p, fmt.Errorf("origin %s: %w", a.Value, err)
			}
		case attrASPath:
			var segments []string
			for _, seg := range a.ASPaths {
				asns := make([]string, len(seg.ASNs))
				for i, asn := range seg.ASNs {
					asns[i] = strconv.FormatUint(uint64(asn), 10)
				}
				// An AS_SET (type 1) counts as one AS and shows as FRR
				// shows it; AS_SEQUENCE (type 2) counts each AS.
				if seg.SegmentType == 1 {
					segments = append(segments, "{"+strings.Join(asns, ",")+"}")
					p.pathLen++
				} else {
					segments = append(segments, asns...)
					p.pathLen += len(asns)
				}
			}
			p.ASPath = strings.Join(segments, " ")
		case attrNextHop, attrMPReach:
			p.NextHop = a.Nexthop
		case attrMED:
			p.MED = a.Metric
		case attrLocalPref:
			var lp int
			if err := json.Unmarshal(a.Value, &lp); err != nil {
				return p, fmt.Errorf("local preference %s: %w", a.Value, err)
			}
			p.LocalPref = &lp
		case attrCommunities:
			var out []string
			for _, c := range a.Communities {
				s := fmt.Sprintf("%d:%d", c>>16, c&0xffff)
				if name, ok := wellKnownCommunities[s]; ok {
					s = name
				}
				out = append(out, s)
			}
			p.Communities = strings.Join(out, " ")
		case attrLargeCommunities:
			var large []struct {
				ASN, LocalData1, LocalData2 uint32
			}
			if err := json.Unmarshal(a.Value, &large); err != nil {
				return p, fmt.Errorf("large communities %s: %w", a.Value, err)
			}
			var out []string
			for _, c := range large {
				out = append(out, fmt.Sprintf("%d:%d:%d", c.ASN, c.LocalData1, c.LocalData2))
			}
			p.LargeCommunities = strings.Join(out, " ")
		}
	}
	return p, nil
}

// gobgpMultipath marks the paths of one prefix that are in its multipath
// set and returns them: with use-multiple-paths, gobgpd puts the best path
// and every path that its path comparison finds equal to it, that is with
// the same LOCAL_PREF (100 when absent), AS path length, origin and MED (0
// when absent). That comparison also separates locally originated from
// received paths and iBGP from eBGP ones; in the lab every path is
// received, and all from neighbours of one kind, so those never differ.
func gobgpMultipath(paths []gobgpPath) []gobgpPath {
	var best *gobgpPath
	for i := range paths {
		if paths[i].best {
			best = &paths[i]
		}
	}
	var multi []gobgpPath
	if best == nil {
		return nil
	}
	orDefault := func(v *int, d int) int {
		if v == nil {
			return d
		}
		return *v
	}
	for i := range paths {
		p := &paths[i]
		p.Multipath = p == best || (orDefault(p.LocalPref, 100) == orDefault(best.LocalPref, 100) &&
			p.pathLen == best.pathLen && p.origin == best.origin && orDefault(p.MED, 0) == orDefault(best.MED, 0))
		if p.Multipath {
			multi = append(multi, *p)
		}
	}
	return multi
}

func familyArg(prefix netip.Prefix) string {
	if prefix.Addr().Is6() {
		return "ipv6"
	}
	return "ipv4"
}

// BGPPaths returns the paths of one prefix in the router's BGP table (empty
// if the prefix is absent), with Multipath set on those of its multipath
// set.
func (g *GoBGP) BGPPaths(prefix netip.Prefix) ([]RIBPath, error) {
	prefix = prefix.Masked()
	out, err := g.Gobgp("global", "rib", "-a", familyArg(prefix), "-j", prefix.String())
	if err != nil {
		return nil, err
	}
	rib, err := parseGoBGPRIB(out)
	if err != nil {
		return nil, err
	}
	// gobgp answers a lookup with the entries it finds for the prefix;
	// only the exact one counts here.
	paths := rib[prefix]
	gobgpMultipath(paths)
	var ribPaths []RIBPath
	for _, p := range paths {
		ribPaths = append(ribPaths, p.RIBPath)
	}
	return ribPaths, nil
}

// KernelNextHops returns the next hops (gateway addresses, sorted) of the
// router's kernel route for prefix.
func (g *GoBGP) KernelNextHops(prefix netip.Prefix) ([]string, error) {
	return kernelNextHops(g.NS, prefix)
}
