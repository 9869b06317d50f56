package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

// The lab's components run as the chart installs them: in this namespace,
// under these ServiceAccounts, with the roles of deploy/bgplb.yaml.
const (
	Namespace         = "bgplb-system"
	controllerAccount = "bgplb-controller"
	speakerAccount    = "bgplb-speaker"
	// scraperAccount stands for the Prometheus that scrapes the speakers;
	// it holds the chart's metrics-reader ClusterRole.
	scraperAccount    = "lab-metrics-scraper"
	metricsReaderRole = "bgplb-metrics-reader"
)

// chartUID is the user and group the chart's containers run as.
const chartUID = 65532

// asChartUser returns the command line that runs argv the way the chart's
// securityContext runs a container: as user and group 65532 without
// supplementary groups, unable to gain privileges, and with no
// capability but caps (names such as "net_admin"), which the chart adds
// the same way. The lab's components run so, which proves that they need
// no other privilege.
func asChartUser(caps []string, argv ...string) []string {
	id := fmt.Sprint(chartUID)
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	return append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--no-new-privs"}, argv...)
}

// directorCapabilities are the capabilities a speaker needs to run the
// director's datapath: to load its program and maps (bpf, and perfmon for
// the verifier's checks of pointer use), to attach them, make the tunnel
// device and set the node's reverse-path filter (net_admin), and to ping
// the other nodes (net_raw).
func directorCapabilities() []string { return []string{"bpf", "perfmon", "net_admin", "net_raw"} }

// withHostname runs argv with its own hostname, in a UTS namespace of its
// own. A node's speaker sends its host name to the router in the BGP
// hostname capability, as GoBGP takes it from the system; on a real node
// that is the node's name, while the lab's nodes share the machine's.
func withHostname(name string, argv ...string) []string {
	return append([]string{"unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, name}, argv...)
}

// writeKubeconfig writes a kubeconfig with the token, readable only by
// the user the components run as.
func (l *Lab) writeKubeconfig(path, token string) error {
	if err := l.env.WriteTokenKubeconfig(path, token); err != nil {
		return err
	}
	return os.Chown(path, chartUID, chartUID)
}

// accessKinds are the kinds of deploy/bgplb.yaml that say who may do what:
// the lab installs these and runs the workloads itself, as there is no
// kubelet to run the chart's Deployment and DaemonSet.
var accessKinds = map[string]bool{
	"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// installAccess applies the ServiceAccounts, roles, bindings and admission
// policies of deploy/bgplb.yaml, and gives the metrics scraper its token.
func (l *Lab) installAccess(ctx context.Context) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	manifest, err := os.ReadFile(filepath.Join(root, "deploy", "bgplb.yaml"))
	if err != nil {
		return err
	}
	objs, err := testenv.Objects(manifest)
	if err != nil {
		return fmt.Errorf("deploy/bgplb.yaml: %w", err)
	}
	var access []*unstructured.Unstructured
	for _, o := range objs {
		if accessKinds[o.GetKind()] {
			access = append(access, o)
		}
	}
	if err := l.env.Apply(ctx, access); err != nil {
		return fmt.Errorf("install the roles of deploy/bgplb.yaml: %w", err)
	}
	l.scraperToken, err = l.scraperAccess(ctx)
	return err
}

// scraperAccess creates the scraper's ServiceAccount, binds it to the
// metrics-reader ClusterRole as an operator would for Prometheus, and
// returns a token of it.
func (l *Lab) scraperAccess(ctx context.Context) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: scraperAccount}}
	if err := l.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account %s: %w", scraperAccount, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: scraperAccount},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: Namespace, Name: scraperAccount}},
	}
	if err := l.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("bind %s to %s: %w", scraperAccount, metricsReaderRole, err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 60 * 60)}}
	if err := l.Client.SubResource("token").Create(ctx, sa, req); err != nil {
		return "", fmt.Errorf("token of %s: %w", scraperAccount, err)
	}
	return req.Status.Token, nil
}

// writeComponentKubeconfigs writes the kubeconfigs the controller and the
// speakers run with: each holds a token of the component's ServiceAccount
// bound to a Pod on the component's node, as the kubelet would mount it,
// so the API server knows which node a speaker's requests come from.
func (l *Lab) writeComponentKubeconfigs(ctx context.Context) error {
	if len(l.Nodes) == 0 {
		return fmt.Errorf("a lab without nodes has nowhere to run its controller")
	}
	token, err := l.env.PodToken(ctx, Namespace, controllerAccount, "bgplb-controller", l.Nodes[0].Name)
	if err != nil {
		return err
	}
	l.controllerKubeconfig = filepath.Join(l.Dir, "controller.kubeconfig")
	if err := l.writeKubeconfig(l.controllerKubeconfig, token); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		token, err := l.env.PodToken(ctx, Namespace, speakerAccount, "bgplb-speaker-"+n.Name, n.Name)
		if err != nil {
			return err
		}
		n.kubeconfig = filepath.Join(l.Dir, "speaker-"+n.Name+".kubeconfig")
		if err := l.writeKubeconfig(n.kubeconfig, token); err != nil {
			return err
		}
	}
	return nil
}
