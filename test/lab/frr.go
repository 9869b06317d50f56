package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/bgplb/bgplb/internal/poll"
)

// FRR is the lab's router: zebra and bgpd in the router namespace, with
// multipath on and 5-tuple hashing in its kernel.
type FRR struct {
	NS        string
	pathspace string
	dir       string
}

var bgpdConfig = template.Must(template.New("bgpd").Parse(`frr defaults datacenter
hostname {{.NS}}
log file {{.Dir}}/frr.log
log timestamp precision 6
{{- if .DebugUpdates}}
debug bgp updates in
{{- end}}
!
router bgp {{.ASN}}
 bgp router-id {{.RouterID}}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
{{- if .NoGracefulRestart}}
 bgp graceful-restart-disable
{{- end}}
 neighbor NODES peer-group
 neighbor NODES remote-as {{.NodeASN}}
{{- if .Password}}
 neighbor NODES password {{.Password}}
{{- end}}
{{- if .BFD}}
 neighbor NODES bfd profile bgplb
{{- end}}
{{- if .ListenRange}}
 bgp listen range {{.ListenRange}} peer-group NODES
{{- else}}
{{- range .Nodes}}
 neighbor {{.}} peer-group NODES
{{- end}}
{{- end}}
 address-family ipv4 unicast
  maximum-paths 16
  maximum-paths ibgp 16
 exit-address-family
 address-family ipv6 unicast
  neighbor NODES activate
  maximum-paths 16
  maximum-paths ibgp 16
 exit-address-family
!
`))

// bfddConfig is the router's BFD profile when Config.BFD is set: the
// timers of DESIGN.md's BFD facts, 3 x 100 ms.
var bfddConfig = template.Must(template.New("bfdd").Parse(`hostname {{.NS}}
log file {{.Dir}}/bfdd.log
!
bfd
 profile bgplb
  detect-multiplier 3
  receive-interval 100
  transmit-interval 100
 !
!
`))

func startFRR(l *Lab) (*FRR, error) {
	f := &FRR{NS: l.Prefix + "-router", pathspace: l.Prefix + "-router", dir: filepath.Join(l.Dir, "frr")}
	for _, bin := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/bin/vtysh"} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("FRR is not installed (apt-get install frr): %w", err)
		}
	}
	runDir, err := f.makeDirs(l)
	if err != nil {
		return nil, err
	}
	daemons, err := f.writeConfigs(l)
	if err != nil {
		return nil, err
	}
	for _, d := range daemons {
		if _, err := nsRun(f.NS, "/usr/lib/frr/"+d.name, "-d", "-N", f.pathspace,
			"-f", d.conf, "-i", filepath.Join(runDir, d.name+".pid")); err != nil {
			f.stop()
			return nil, err
		}
	}
	// vtysh answers once bgpd's socket is up.
	err = poll.Until(context.Background(), 10*time.Second, "FRR answers vtysh", poll.Succeeds(func() error {
		_, err := f.Vtysh("show bgp summary json")
		return err
	}))
	if err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// makeDirs makes the router's directories, which the lab's Close
// removes, and returns FRR's run directory of the pathspace.
func (f *FRR) makeDirs(l *Lab) (runDir string, err error) {
	if err := os.MkdirAll(f.dir, 0o777); err != nil {
		return "", err
	}
	runDir = filepath.Join("/var/run/frr", f.pathspace)
	if err := os.MkdirAll(runDir, 0o777); err != nil {
		return "", err
	}
	l.onClose(func() error { return os.RemoveAll(runDir) })
	// vtysh -N reads its own configuration from a folder named after the
	// pathspace and warns on every call when there is none; an empty one
	// keeps its output (the lab's and a person's) to the answer.
	vtyshDir := frrConfDir(f.pathspace)
	if err := os.MkdirAll(vtyshDir, 0o755); err != nil {
		return "", err
	}
	l.onClose(func() error { return os.RemoveAll(vtyshDir) })
	if err := os.WriteFile(filepath.Join(vtyshDir, "vtysh.conf"), nil, 0o644); err != nil {
		return "", err
	}
	// The daemons drop privileges to the frr user, which must be able to
	// write their sockets, pid files and log.
	return runDir, chownFRR(runDir, f.dir)
}

// frrDaemon is one FRR daemon and its configuration file.
type frrDaemon struct{ name, conf string }

// writeConfigs writes the configuration of each daemon the lab runs, and
// returns them in the order they start: zebra first, bgpd last.
func (f *FRR) writeConfigs(l *Lab) ([]frrDaemon, error) {
	var nodes []string
	for _, n := range l.Nodes {
		nodes = append(nodes, n.Addr4.String())
	}
	zebra := frrDaemon{"zebra", filepath.Join(f.dir, "zebra.conf")}
	if err := os.WriteFile(zebra.conf, []byte("hostname "+f.NS+"\n"), 0o644); err != nil {
		return nil, err
	}
	daemons := []frrDaemon{zebra}
	if l.cfg.BFD {
		bfdd := frrDaemon{"bfdd", filepath.Join(f.dir, "bfdd.conf")}
		if err := writeTemplate(bfdd.conf, bfddConfig, map[string]any{"NS": f.NS, "Dir": f.dir}); err != nil {
			return nil, err
		}
		daemons = append(daemons, bfdd)
	}
	bgpd := frrDaemon{"bgpd", filepath.Join(f.dir, "bgpd.conf")}
	err := writeTemplate(bgpd.conf, bgpdConfig, map[string]any{
		"NS": f.NS, "Dir": f.dir, "ASN": RouterASN, "NodeASN": l.NodeASN(), "RouterID": RouterLAN4, "Nodes": nodes,
		"Password": l.cfg.RouterPassword, "DebugUpdates": l.cfg.LogUpdates, "BFD": l.cfg.BFD,
		"NoGracefulRestart": l.cfg.RouterWithoutGracefulRestart, "ListenRange": listenRange(l.cfg.Neighbours),
	})
	if err != nil {
		return nil, err
	}
	return append(daemons, bgpd), nil
}

// writeTemplate writes what tmpl makes of data to path.
func writeTemplate(path string, tmpl *template.Template, data any) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	err = tmpl.Execute(out, data)
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// frrConfDir is where FRR's tools look for the configuration of a
// pathspace (vtysh -N).
func frrConfDir(pathspace string) string { return filepath.Join("/etc/frr", pathspace) }

// listenRange is the range of addresses the router accepts sessions from
// with dynamic neighbours, or empty for static ones.
func listenRange(neighbours string) string {
	if neighbours == DynamicNeighbours {
		return NodeLAN4
	}
	return ""
}

func (f *FRR) stop() error {
	for _, d := range []string{"bgpd", "bfdd", "zebra"} {
		stopPIDFile(filepath.Join("/var/run/frr", f.pathspace, d+".pid"))
	}
	return nil
}

// BGPDAlive tells whether the router's bgpd process is still running: a
// crash leaves its pid file behind with no process.
func (f *FRR) BGPDAlive() (bool, error) {
	path := filepath.Join("/var/run/frr", f.pathspace, "bgpd.pid")
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("bgpd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return false, fmt.Errorf("bgpd pid file %s holds %q", path, data)
	}
	return processAlive(pid), nil
}

// Session is what the router knows of one neighbour's session.
type Session struct {
	State string `json:"bgpState"`
	// Dropped counts the times an Established session of this neighbour
	// went down.
	Dropped int `json:"connectionsDropped"`
	// Hostname is the host name the neighbour sent in its hostname
	// capability; FRR shows it in its tables and logs.
	Hostname string `json:"hostname"`
}

// Sessions returns the router's sessions by neighbour address; with
// dynamic neighbours, only those that exist at the moment.
func (f *FRR) Sessions() (map[string]Session, error) {
	out, err := f.Vtysh("show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	var sessions map[string]Session
	if err := json.Unmarshal([]byte(out), &sessions); err != nil {
		return nil, fmt.Errorf("parse neighbors: %w", err)
	}
	return sessions, nil
}

// LogPath is bgpd's log file; with Config.LogUpdates it has a line, with
// microsecond timestamps, for every prefix received.
func (f *FRR) LogPath() string { return filepath.Join(f.dir, "frr.log") }

// Vtysh runs one vtysh command against the router.
func (f *FRR) Vtysh(command string) (string, error) {
	return nsRun(f.NS, "vtysh", "-N", f.pathspace, "-c", command)
}

// Established returns the neighbours whose session is Established.
func (f *FRR) Established() ([]string, error) {
	sessions, err := f.Sessions()
	if err != nil {
		return nil, err
	}
	var up []string
	for addr, n := range sessions {
		if n.State == "Established" {
			up = append(up, addr)
		}
	}
	slices.Sort(up)
	return up, nil
}

// RIBPath is one path of a prefix in the router's BGP table.
type RIBPath struct {
	NextHop          string
	Communities      string
	LargeCommunities string
	LocalPref        *int
	MED              *int
	ASPath           string
	Multipath        bool
}

// BGPPaths returns the paths of one prefix in the router's BGP table (empty
// if the prefix is absent).
func (f *FRR) BGPPaths(prefix netip.Prefix) ([]RIBPath, error) {
	family := "ipv4"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := f.Vtysh(fmt.Sprintf("show bgp %s unicast %s json", family, prefix))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths []struct {
			ASPath struct {
				String string `json:"string"`
			} `json:"aspath"`
			Community *struct {
				String string `json:"string"`
			} `json:"community"`
			LargeCommunity *struct {
				String string `json:"string"`
			} `json:"largeCommunity"`
			LocalPref *int `json:"locPrf"`
			MED       *int `json:"metric"`
			Multipath bool `json:"multipath"`
			Bestpath  *struct {
				Overall bool `json:"overall"`
			} `json:"bestpath"`
			Nexthops []struct {
				IP    string `json:"ip"`
				Scope string `json:"scope"`
			} `json:"nexthops"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	var paths []RIBPath
	for _, p := range doc.Paths {
		rp := RIBPath{ASPath: p.ASPath.String, LocalPref: p.LocalPref, MED: p.MED, Multipath: p.Multipath || (p.Bestpath != nil && p.Bestpath.Overall)}
		if p.Community != nil {
			rp.Communities = p.Community.String
		}
		if p.LargeCommunity != nil {
			rp.LargeCommunities = p.LargeCommunity.String
		}
		for _, nh := range p.Nexthops {
			if nh.Scope != "link-local" {
				rp.NextHop = nh.IP
				break
			}
		}
		paths = append(paths, rp)
	}
	return paths, nil
}

// KernelNextHops returns the next hops (gateway addresses, sorted) of the
// router's kernel route for prefix: the route that forwards, which with
// Config.RouterHashing Resilient is the lab's mirror of FRR's route.
func (f *FRR) KernelNextHops(prefix netip.Prefix) ([]string, error) {
	weights, err := f.KernelNextHopWeights(prefix)
	hops := slices.Sorted(maps.Keys(weights))
	return hops, err
}

// KernelNextHopWeights returns the gateways of the router's kernel route
// for prefix with their weights, which FRR derives from the paths'
// link-bandwidth communities.
func (f *FRR) KernelNextHopWeights(prefix netip.Prefix) (map[string]int, error) {
	return forwardingNextHopWeights(f.NS, prefix)
}

func chownFRR(paths ...string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("FRR's user: %w", err)
	}
	g, err := user.LookupGroup("frr")
	if err != nil {
		return fmt.Errorf("FRR's group: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// BFDPeer is one BFD session as the router sees it.
type BFDPeer struct {
	Peer   string `json:"peer"`
	Status string `json:"status"`
	// DetectMultiplier and the intervals (ms) are the router's own;
	// the Remote ones are what the node announced.
	DetectMultiplier       int `json:"detect-multiplier"`
	ReceiveInterval        int `json:"receive-interval"`
	TransmitInterval       int `json:"transmit-interval"`
	RemoteDetectMultiplier int `json:"remote-detect-multiplier"`
	RemoteReceiveInterval  int `json:"remote-receive-interval"`
	RemoteTransmitInterval int `json:"remote-transmit-interval"`
}

// BFDPeers returns the router's BFD sessions (Config.BFD runs bfdd).
func (f *FRR) BFDPeers() ([]BFDPeer, error) {
	out, err := f.Vtysh("show bfd peers json")
	if err != nil {
		return nil, err
	}
	var peers []BFDPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("parse BFD peers: %w", err)
	}
	return peers, nil
}
