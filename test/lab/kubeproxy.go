package lab

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/poll"
)

// kube-proxy runs on every lab node as its DaemonSet runs on a real one:
// as root in the node's network namespace, under the kube-proxy
// ServiceAccount of kube-system, which is bound to the system:node-proxier
// ClusterRole the API server ships (as kubeadm binds it).
const (
	kubeProxyNamespace = "kube-system"
	kubeProxyAccount   = "kube-proxy"
	kubeProxyRole      = "system:node-proxier"
	// KubeProxyHealthPort is where each node's kube-proxy serves /healthz,
	// on the node's management address.
	KubeProxyHealthPort = 10256
	// kubeProxyStartTimeout bounds the wait for every kube-proxy to have
	// written its rules once.
	kubeProxyStartTimeout = 60 * time.Second
)

// Proxy modes, for Config.ProxyMode.
const (
	ProxyNftables = "nftables"
	ProxyIptables = "iptables"
)

// kubeProxyArgs is kube-proxy's command line on node n. Each flag that a
// node living in a network namespace of a shared machine needs is here,
// with its reason.
func kubeProxyArgs(n *Node, kubeconfig, mode string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--proxy-mode=" + mode,
		// kube-proxy finds its Node object (addresses, pod CIDRs) by host
		// name, and every lab node shares the machine's host name.
		"--hostname-override=" + n.Name,
		// Sources in these ranges are pods, everything else is external:
		// kube-proxy masquerades external traffic to a Service with
		// externalTrafficPolicy Cluster and keeps the source for Local.
		"--cluster-cidr=" + ClusterCIDR4 + "," + ClusterCIDR6,
		// nf_conntrack_max and the conntrack hash size belong to the whole
		// machine and only the initial namespace may write them; by
		// default kube-proxy raises them and fails in a namespace. 0
		// leaves them as they are.
		"--conntrack-max-per-core=0",
		// The conntrack TCP timeouts are the namespace's own; 0 keeps the
		// kernel's rather than kube-proxy's, so the lab does not depend on
		// kube-proxy's tuning of them.
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
		// Every node namespace has its own loopback, so the default
		// metrics address is the node's own; written out so that nothing
		// about where kube-proxy listens is implicit.
		"--metrics-bind-address=127.0.0.1:10249",
		// The health server listens on the management network, where the
		// lab (in the root namespace) can ask whether kube-proxy has
		// written its rules.
		"--healthz-bind-address=" + netip.AddrPortFrom(n.mgmtAddr, KubeProxyHealthPort).String(),
		// The minimum time between two writes of the rules stays at its
		// default, one second, as clusters run it: kube-proxy batches the
		// changes of that second, so a new pod may get its first
		// connections up to a second after its EndpointSlice names it, in
		// the lab as in a cluster. (Writing every change at once made three
		// kube-proxies rewrite the rules of 1,000 Services on every pod of
		// a benchmark's churn.)
		"--v=2",
	}
}

// startKubeProxies gives kube-proxy its identity and starts it on every
// node, then waits until each has written its rules once.
func (l *Lab) startKubeProxies(ctx context.Context) error {
	bin, err := testenv.BinDir()
	if err != nil {
		return err
	}
	proxy := filepath.Join(bin, "kube-proxy")
	if _, err := os.Stat(proxy); err != nil {
		return fmt.Errorf("lab needs kube-proxy (hack/build-kube-tools.sh builds it): %w", err)
	}
	if err := l.kubeProxyAccess(ctx); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		if err := l.startKubeProxy(ctx, n, proxy); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if err := l.waitKubeProxy(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// kubeProxyAccess creates kube-proxy's ServiceAccount and binds it to
// system:node-proxier.
func (l *Lab) kubeProxyAccess(ctx context.Context) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: kubeProxyNamespace, Name: kubeProxyAccount}}
	if err := l.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", kubeProxyNamespace, kubeProxyAccount, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "lab:kube-proxy"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: kubeProxyRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: kubeProxyNamespace, Name: kubeProxyAccount}},
	}
	if err := l.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s to %s: %w", kubeProxyAccount, kubeProxyRole, err)
	}
	return nil
}

// startKubeProxy starts kube-proxy in node n's namespace with a token of
// its ServiceAccount bound to a kube-proxy Pod on n, as the kubelet would
// mount it.
func (l *Lab) startKubeProxy(ctx context.Context, n *Node, bin string) error {
	token, err := l.env.PodToken(ctx, kubeProxyNamespace, kubeProxyAccount, "kube-proxy-"+n.Name, n.Name)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(l.Dir, "kube-proxy-"+n.Name+".kubeconfig")
	if err := l.env.WriteTokenKubeconfig(kubeconfig, token); err != nil {
		return err
	}
	mode := l.cfg.ProxyMode
	if mode == "" {
		mode = ProxyNftables
	}
	args := append([]string{"ip", "netns", "exec", n.NS, bin}, kubeProxyArgs(n, kubeconfig, mode)...)
	p, err := l.spawnDaemon("kube-proxy-"+n.Name, args...)
	if err != nil {
		return err
	}
	n.proxy = p
	return nil
}

// waitKubeProxy waits until node n's kube-proxy reports itself healthy,
// which it does once it has written its rules.
func (l *Lab) waitKubeProxy(ctx context.Context, n *Node) error {
	url := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(n.mgmtAddr, KubeProxyHealthPort))
	hc := &http.Client{Timeout: time.Second}
	err := n.proxy.waitReady(ctx, kubeProxyStartTimeout, "kube-proxy on "+n.Name+" is healthy", func() (bool, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, n.proxy.log)
	}
	return nil
}

// KubeProxyPID returns the process ID of a node's kube-proxy (0 if none
// runs).
func (l *Lab) KubeProxyPID(n *Node) int {
	if n.proxy == nil {
		return 0
	}
	return n.proxy.cmd.Process.Pid
}

// waitForKubeProxies waits until every node's kube-proxy has written a
// rule that sends connections to each of the given pod addresses (with
// their port). kube-proxy batches changes for up to a second, and until it
// has written a new pod's rules it rejects or drops connections that
// bgplb's routes may already bring; a test that placed pods waits for it,
// as a cluster's clients cannot. Only additions are waited for: a removed
// pod's rules may linger a moment, which tests observe as traffic.
func (l *Lab) waitForKubeProxies(ctx context.Context, targets []netip.AddrPort) error {
	if len(targets) == 0 {
		return nil
	}
	for _, n := range l.Nodes {
		err := poll.Until(ctx, kubeProxyStartTimeout, "kube-proxy on "+n.Name+" writes the rules of the new pods", func() (bool, string) {
			rules, err := l.proxyRules(n)
			if err != nil {
				return false, err.Error()
			}
			var missing []netip.AddrPort
			for _, t := range targets {
				if !strings.Contains(rules, t.String()) && !strings.Contains(rules, nftMapTarget(t)) {
					missing = append(missing, t)
				}
			}
			return len(missing) == 0, fmt.Sprintf("no rule for %v", missing)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// nftMapTarget is how nft prints a destination in a map of several
// endpoints ("address . port"); a single endpoint's rule, and iptables,
// print address:port (IPv6 in brackets).
func nftMapTarget(t netip.AddrPort) string {
	return fmt.Sprintf("%s . %d", t.Addr(), t.Port())
}

// proxyRules returns the NAT rules kube-proxy wrote on node n, both
// families, as text.
func (l *Lab) proxyRules(n *Node) (string, error) {
	var dumps [][]string
	if l.cfg.ProxyMode == ProxyIptables {
		dumps = [][]string{{"iptables-save", "-t", "nat"}, {"ip6tables-save", "-t", "nat"}}
	} else {
		dumps = [][]string{{"nft", "list", "table", "ip", "kube-proxy"}, {"nft", "list", "table", "ip6", "kube-proxy"}}
	}
	var b strings.Builder
	for _, d := range dumps {
		out, err := nsRun(n.NS, d...)
		if err != nil {
			return "", err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}
