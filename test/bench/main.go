// Command bench measures how fast the lab's router learns Service
// addresses: per-Service announce latency (creation to the UPDATE at the
// router, and to the kernel route with every next hop), bulk creation and
// deletion lag, and the speakers' memory and CPU; connections broken by
// node events; and what the director costs in latency, connection rate,
// throughput and CPU. It prints a report; `make bench` runs it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/test/lab"
)

func main() {
	oneByOne := flag.Int("latency-services", 100, "Services created one at a time for the latency figures")
	bulk := flag.String("bulk", "1000,5000", "comma-separated sizes of the bulk runs; empty skips them")
	binDir := flag.String("bin", ".cache/bin", "directory with the controller and speaker binaries")
	disruptionConns := flag.Int("disruption-conns", 1000, "busy connections per disruption run; 0 skips the disruption table")
	hashings := flag.String("disruption-hashing", lab.HashThreshold, "comma-separated router hashing modes of the disruption table: "+lab.HashThreshold+", "+lab.Resilient)
	writes := flag.Int("writes-services", 1000, "Services in place while the speakers' API writes are counted, in steady state and under churn; 0 skips it")
	costConns := flag.Int("cost-conns", 1000, "connections per latency and per connection-rate measurement of the director's cost (the CPU load is 20 echo round trips per connection); 0 skips it")
	costRounds := flag.Int("cost-rounds", 6, "rounds of the director's cost measurement, each with the director off and on")
	costBulk := flag.Int("cost-bulk-mib", 256, "MiB of the bulk stream of the director's cost measurement")
	reportDir := flag.String("disruption-out", "", "also write the disruption table and a chart of it into this directory")
	flag.StringVar(&profileDir, "profile", "", "write CPU profiles of the controller and node-0's speaker, at the start of the latency run and of the last bulk run, to this directory")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if *oneByOne > 0 || *bulk != "" || *writes > 0 {
		if err := run(*binDir, *oneByOne, *bulk, *writes); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *disruptionConns > 0 {
		abs, err := filepath.Abs(*binDir)
		if err == nil {
			err = disruptionReport(abs, *disruptionConns, strings.Split(*hashings, ","), *reportDir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *costConns > 0 {
		abs, err := filepath.Abs(*binDir)
		if err == nil {
			err = costReport(abs, costConfig{conns: *costConns, rounds: max(1, *costRounds), bulkMiB: max(1, *costBulk)})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// profileDir, when set, receives CPU profiles of the last bulk run.
var profileDir string

func run(binDir string, oneByOne int, bulkSizes string, writes int) error {
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Nodes: 3, BinDir: abs, LogUpdates: true, Pprof: profileDir != ""})
	if err != nil {
		return err
	}
	defer l.Close()
	frr := l.Router.(*lab.FRR)
	if err := configure(ctx, l); err != nil {
		return err
	}

	fmt.Printf("bgplb announce benchmark: 3 nodes, FRR router, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	var profiled func() error
	if profileDir != "" && oneByOne > 0 {
		profiled = profile(l, profileDir, "latency")
	}
	if err := latency(ctx, l, frr, oneByOne); err != nil {
		return err
	}
	if profiled != nil {
		if err := profiled(); err != nil {
			return err
		}
	}
	sizes := strings.FieldsFunc(bulkSizes, func(r rune) bool { return r == ',' })
	for i, field := range sizes {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad bulk size %q", field)
		}
		profiled = nil
		if profileDir != "" && i == len(sizes)-1 {
			profiled = profile(l, profileDir, "bulk")
		}
		if err := bulkRun(ctx, l, frr, n); err != nil {
			return err
		}
		if profiled != nil {
			if err := profiled(); err != nil {
				return err
			}
		}
	}
	if writes > 0 {
		if err := writesRun(ctx, l, writes, 10, 30*time.Second); err != nil {
			return err
		}
	}
	fmt.Println("\nspeakers (whole run):")
	for _, n := range l.Nodes {
		rss, cpu := usage(l.SpeakerPID(n))
		fmt.Printf("  %s: peak RSS %.1f MB, CPU %.1f s\n", n.Name, float64(rss)/1024, cpu)
	}
	return nil
}

func configure(ctx context.Context, l *lab.Lab) error {
	objs := []client.Object{
		&v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.IPPoolSpec{
			// The bulk runs need more addresses than the lab's Service
			// ranges hold; no traffic goes to these, only routes.
			Addresses: []v1alpha1.AddressRange{"203.0.113.0/24", "100.64.0.0/18"}}},
		&v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"}, Spec: v1alpha1.BGPPeerSpec{
			MyASN: lab.NodeASN, PeerASN: lab.RouterASN, PeerAddress: lab.RouterLAN4,
			HoldTime: &metav1.Duration{Duration: 9 * time.Second}, ConnectTime: &metav1.Duration{Duration: time.Second}}},
		&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bench"}},
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	return poll.Until(ctx, 60*time.Second, "three sessions are Established", func() (bool, string) {
		up, err := l.Router.Established()
		return err == nil && len(up) == 3, fmt.Sprint(up, err)
	})
}

// service is a LoadBalancer Service without node ports: the bulk runs
// create more Services than the node port range holds.
func service(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: ptr.To(false),
		Selector: map[string]string{"app": name},
		Ports:    []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
}

// latency creates Services one at a time (each with an endpoint, Cluster
// policy) and measures, per Service, creation to the router receiving the
// prefix from the first node, and to the kernel route with all three next
// hops.
func latency(ctx context.Context, l *lab.Lab, frr *lab.FRR, count int) error {
	var toCreated, toAddr, toUpdate, toKernel, ownUpdate []time.Duration
	for i := range count {
		svc := service(fmt.Sprintf("lat-%d", i))
		// The endpoint exists first, as a Deployment's Pods usually do
		// when its Service is created, so the clock measures bgplb and
		// not the benchmark's own API calls.
		if _, err := l.PlacePods(ctx, svc, map[string][]lab.EndpointState{"node-0": {lab.Ready}}); err != nil {
			return err
		}
		w, err := l.Client.Watch(ctx, &corev1.ServiceList{}, client.InNamespace(svc.Namespace),
			client.MatchingFields{"metadata.name": svc.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})
		if err != nil {
			return err
		}
		start := time.Now()
		if err := l.Client.Create(ctx, svc); err != nil {
			w.Stop()
			return err
		}
		toCreated = append(toCreated, time.Since(start))
		addr, err := waitAddr(w)
		w.Stop()
		if err != nil {
			return err
		}
		toAddr = append(toAddr, time.Since(start))
		// The router's log is read before its kernel is polled: running
		// ip every 2 ms while the speakers work would slow them down on a
		// small machine and inflate the figure it measures.
		received, err := firstReceived(frr.LogPath(), addr)
		if err != nil {
			return err
		}
		kernel, err := waitKernel(l, []netip.Addr{addr}, 3, 10*time.Second, 2*time.Millisecond)
		if err != nil {
			return err
		}
		toUpdate = append(toUpdate, received.Sub(start))
		ownUpdate = append(ownUpdate, received.Sub(start)-toCreated[len(toCreated)-1])
		toKernel = append(toKernel, kernel.Sub(start))
	}
	if count == 0 {
		return nil
	}
	fmt.Printf("announce latency over %d Services created one at a time (Cluster policy):\n", count)
	fmt.Printf("  creation -> create call returned:           p50 %6.1f ms   p99 %6.1f ms\n", ms(pct(toCreated, 50)), ms(pct(toCreated, 99)))
	fmt.Printf("  creation -> address seen by a watch:         p50 %6.1f ms   p99 %6.1f ms\n", ms(pct(toAddr, 50)), ms(pct(toAddr, 99)))
	fmt.Printf("  creation -> UPDATE received by the router:   p50 %6.1f ms   p99 %6.1f ms\n", ms(pct(toUpdate, 50)), ms(pct(toUpdate, 99)))
	fmt.Printf("  create call returned -> UPDATE at the router: p50 %6.1f ms   p99 %6.1f ms   (bgplb's own part)\n", ms(pct(ownUpdate, 50)), ms(pct(ownUpdate, 99)))
	fmt.Printf("  creation -> kernel route with 3 next hops:   p50 %6.1f ms   p99 %6.1f ms\n", ms(pct(toKernel, 50)), ms(pct(toKernel, 99)))
	fmt.Println("  (both include the controller assigning the address; the endpoint exists before the Service;")
	fmt.Println("   the UPDATE time is FRR's receive log, microsecond timestamps)")
	return nil
}

// waitAddr waits for a watched Service to show an address.
func waitAddr(w watch.Interface) (netip.Addr, error) {
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return netip.Addr{}, errors.New("watch ended before the Service got an address")
			}
			if s, ok := ev.Object.(*corev1.Service); ok && len(s.Status.LoadBalancer.Ingress) > 0 {
				return netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
			}
		case <-timeout:
			return netip.Addr{}, errors.New("no address after 20s")
		}
	}
}

// kernelRoutes returns, per destination, the number of next hops of the
// router's BGP routes.
func kernelRoutes(l *lab.Lab) (map[string]int, error) {
	out, err := exec.Command("ip", "-n", l.Prefix+"-router", "-j", "route", "show", "proto", "bgp").Output()
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Dst      string            `json:"dst"`
		Gateway  string            `json:"gateway"`
		Nexthops []json.RawMessage `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, err
	}
	hops := map[string]int{}
	for _, r := range routes {
		n := len(r.Nexthops)
		if r.Gateway != "" {
			n = 1
		}
		hops[r.Dst] = n
	}
	return hops, nil
}

// waitKernel polls the router's kernel table every so often until every
// address has a route with want next hops (want 0: no route), and returns
// when that was first seen.
func waitKernel(l *lab.Lab, addrs []netip.Addr, want int, timeout, every time.Duration) (time.Time, error) {
	var converged time.Time
	what := fmt.Sprintf("the router's kernel has routes with %d next hops for %d addresses", want, len(addrs))
	err := poll.UntilEvery(context.Background(), every, timeout, what, func() (bool, string) {
		routes, err := kernelRoutes(l)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range addrs {
			if routes[a.String()] != want {
				return false, fmt.Sprintf("%s has %d", a, routes[a.String()])
			}
		}
		converged = time.Now()
		return true, ""
	})
	return converged, err
}

var logTime = regexp.MustCompile(`^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6})`)

// firstReceived finds the first line of bgpd's log that records receiving
// the address's prefix.
func firstReceived(path string, addr netip.Addr) (time.Time, error) {
	var received time.Time
	var parseErr error
	err := poll.UntilEvery(context.Background(), 5*time.Millisecond, 5*time.Second, fmt.Sprintf("%s records receiving %s", path, addr), func() (bool, string) {
		line, err := firstReceiveLine(path, addr)
		if err != nil || line == nil {
			return false, fmt.Sprint(err)
		}
		received, parseErr = time.ParseInLocation("2006/01/02 15:04:05.000000", line[1], time.Local)
		return true, ""
	})
	if err != nil {
		return time.Time{}, err
	}
	return received, parseErr
}

// firstReceiveLine returns the time stamp match of the first line of
// bgpd's log that records receiving the address's prefix, or nil.
func firstReceiveLine(path string, addr netip.Addr) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	needle := " " + addr.String() + "/32"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, needle) || !strings.Contains(line, "rcvd") {
			continue
		}
		if m := logTime.FindStringSubmatch(line); m != nil {
			return m, nil
		}
	}
	return nil, sc.Err()
}

// bulkRun creates n Services with 8 parallel clients and reports how long
// after the last creation every Service had its address, the router's BGP
// table had every prefix from all three nodes, and its kernel had every
// route with three next hops; then the same for deletion.
func bulkRun(ctx context.Context, l *lab.Lab, frr *lab.FRR, n int) error {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bulk%d-%d", n, i)
	}
	baseline, err := receivedPrefixes(frr)
	if err != nil {
		return err
	}
	var lastCreate time.Time
	var mu sync.Mutex
	if err := parallel(names, func(name string) error {
		svc := service(name)
		if err := l.Client.Create(ctx, svc); err != nil {
			return err
		}
		if _, err := l.PlacePods(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
			return err
		}
		mu.Lock()
		lastCreate = time.Now()
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	addrs, assigned, err := waitAllAddrs(ctx, l, fmt.Sprintf("bulk%d-", n), n)
	if err != nil {
		return err
	}
	inBGP, err := waitReceived(frr, baseline+n)
	if err != nil {
		return err
	}
	inKernel, err := waitKernel(l, addrs, 3, 5*time.Minute, 20*time.Millisecond)
	if err != nil {
		return err
	}

	var lastDelete time.Time
	if err := parallel(names, func(name string) error {
		if err := l.Client.Delete(ctx, service(name)); err != nil {
			return err
		}
		mu.Lock()
		lastDelete = time.Now()
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	outBGP, err := waitReceived(frr, baseline)
	if err != nil {
		return err
	}
	outKernel, err := waitKernel(l, addrs, 0, 5*time.Minute, 20*time.Millisecond)
	if err != nil {
		return err
	}
	fmt.Printf("bulk %d Services, 8 parallel clients, seconds after the last creation (deletion):\n", n)
	fmt.Printf("  every address assigned %5.2f   router BGP table complete %5.2f   kernel complete %5.2f\n",
		assigned.Sub(lastCreate).Seconds(), inBGP.Sub(lastCreate).Seconds(), inKernel.Sub(lastCreate).Seconds())
	fmt.Printf("  router BGP table empty %5.2f   kernel empty %5.2f\n",
		outBGP.Sub(lastDelete).Seconds(), outKernel.Sub(lastDelete).Seconds())
	return nil
}

// waitAllAddrs lists the Services whose names start with prefix until n of
// them have an address, and returns the addresses and when that was seen.
func waitAllAddrs(ctx context.Context, l *lab.Lab, prefix string, n int) ([]netip.Addr, time.Time, error) {
	var addrs []netip.Addr
	var seen time.Time
	err := poll.UntilEvery(ctx, 20*time.Millisecond, 5*time.Minute, fmt.Sprintf("%d Services named %s* have an address", n, prefix), func() (bool, string) {
		var list corev1.ServiceList
		if err := l.Client.List(ctx, &list, client.InNamespace("default")); err != nil {
			return false, err.Error()
		}
		addrs = addrs[:0]
		for _, s := range list.Items {
			if strings.HasPrefix(s.Name, prefix) && len(s.Status.LoadBalancer.Ingress) > 0 {
				if a, err := netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
		seen = time.Now()
		return len(addrs) == n, fmt.Sprintf("%d have one", len(addrs))
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return addrs, seen, nil
}

// receivedPrefixes returns the fewest IPv4 prefixes the router has
// received from any one node.
func receivedPrefixes(frr *lab.FRR) (int, error) {
	out, err := frr.Vtysh("show bgp ipv4 unicast summary json")
	if err != nil {
		return 0, err
	}
	var summary struct {
		Peers map[string]struct {
			PfxRcd int `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		return 0, fmt.Errorf("parse BGP summary: %w", err)
	}
	if len(summary.Peers) == 0 {
		return 0, errors.New("the router has no BGP peers")
	}
	fewest := -1
	for _, p := range summary.Peers {
		if fewest < 0 || p.PfxRcd < fewest {
			fewest = p.PfxRcd
		}
	}
	return fewest, nil
}

// waitReceived polls until every node has sent exactly want prefixes.
func waitReceived(frr *lab.FRR, want int) (time.Time, error) {
	var seen time.Time
	err := poll.UntilEvery(context.Background(), 10*time.Millisecond, 5*time.Minute, fmt.Sprintf("the router has %d prefixes from every node", want), func() (bool, string) {
		got, err := receivedPrefixes(frr)
		if err != nil {
			return false, err.Error()
		}
		seen = time.Now()
		return got == want, fmt.Sprintf("%d from some node", got)
	})
	return seen, err
}

func parallel(names []string, fn func(string) error) error {
	work := make(chan string)
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for name := range work {
				if err := fn(name); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// usage reads a process's peak resident memory (kB) and CPU seconds.
func usage(pid int) (int, float64) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	rss := 0
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			rss, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var cpu float64
	if len(fields) > 12 {
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		cpu = float64(utime+stime) / 100 // USER_HZ is 100 on Linux
	}
	return rss, cpu
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// profile starts 20-second CPU profiles of the controller and of node-0's
// speaker, and returns a function that waits for them.
func profile(l *lab.Lab, dir, phase string) func() error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() error { return err }
	}
	url := "http://" + lab.PprofAddr + "/debug/pprof/profile?seconds=20"
	fetch := func(name string, netns ...string) error {
		args := append(netns, "go", "tool", "pprof", "-proto", url)
		cmd := exec.Command(args[0], args[1:]...)
		out, err := os.Create(filepath.Join(dir, phase+"-"+name+".pb.gz"))
		if err != nil {
			return err
		}
		defer out.Close()
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("profile %s: %w: %s", name, err, stderr.String())
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = fetch("controller") })
	wg.Go(func() { errs[1] = fetch("speaker-node-0", "ip", "netns", "exec", l.Nodes[0].NS) })
	return func() error { wg.Wait(); return errors.Join(errs...) }
}
