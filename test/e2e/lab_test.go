package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bgplb/bgplb/internal/testpoll"
	"github.com/bgplb/bgplb/test/lab"
)

// Closing a lab removes everything it made, whatever its router: the
// router's daemons and helpers (GoBGP's route monitor) included.
func TestTheLabLeavesNothingBehind(t *testing.T) {
	for _, router := range []string{"frr", "bird", "gobgp"} {
		t.Run(router, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			l, err := lab.Start(ctx, lab.Config{Nodes: 2, BinDir: binDir, Logf: t.Logf, Router: router, Neighbours: lab.DynamicNeighbours})
			if err != nil {
				t.Fatal(err)
			}
			if up, err := l.Router.Established(); err != nil {
				t.Fatalf("the router does not answer: %v (%v)", up, err)
			}
			// A pod adds a namespace and a link on its node's bridge.
			svc := createService(t, l, "leftover", false)
			if err := l.SetEndpoints(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
				t.Fatal(err)
			}
			apiserver := l.APIServerDir()
			if !leftovers(t, l.Prefix, l.Dir, false) || !leftovers(t, apiserver, apiserver, false) {
				t.Fatal("the running lab is not visible to the leftover check, so the check proves nothing")
			}
			record := filepath.Join(lab.RunsDir, l.Prefix+".json")
			if _, err := os.Stat(record); err != nil {
				t.Errorf("the running lab has no record for the reaper: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if leftovers(t, l.Prefix, l.Dir, true) || leftovers(t, apiserver, apiserver, true) {
				t.Error("the lab left something behind")
			}
			if _, err := os.Stat(record); !os.IsNotExist(err) {
				t.Errorf("the closed lab's record %s remains (%v)", record, err)
			}
		})
	}
}

// A run killed on -timeout closes nothing: the next run removes its lab.
// The killed run is this test binary again, which starts a lab and waits.
func TestALabLeftByAKilledRunIsRemovedByTheNextRun(t *testing.T) {
	run := exec.Command(os.Args[0], "-test.run=^$")
	run.Env = append(os.Environ(), abandonLabEnv+"="+binDir)
	run.Stderr = os.Stderr
	out, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var left abandonedLab
	if err := json.NewDecoder(out).Decode(&left); err != nil {
		_ = run.Process.Kill()
		t.Fatalf("the run that abandons a lab says no more than %v (%v)", left, run.Wait())
	}
	if err := run.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = run.Wait()
	t.Logf("killed the run of lab %s", left.Prefix)
	if !leftovers(t, left.Prefix, left.Dir, false) || !leftovers(t, left.APIServerDir, left.APIServerDir, false) {
		t.Fatal("the killed run left nothing behind, so its removal proves nothing")
	}
	if err := lab.ReapStale(t.Logf); err != nil {
		t.Error(err)
	}
	if leftovers(t, left.Prefix, left.Dir, true) || leftovers(t, left.APIServerDir, left.APIServerDir, true) {
		t.Error("the next run did not remove everything of the killed run's lab")
	}
}

// leftovers reports namespaces, links, processes and files that carry the
// lab's prefix (or a directory that names its API server's processes),
// logging each when report is set.
func leftovers(t *testing.T, prefix, dir string, report bool) bool {
	t.Helper()
	found := false
	for _, probe := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}, {"ps", "-eo", "args"}} {
		out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", probe, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, prefix) && !strings.Contains(line, "ps -eo") {
				if report {
					t.Logf("%s: %s", probe[0]+" "+probe[1], line)
				}
				found = true
			}
		}
	}
	if mounts, err := os.ReadFile("/proc/mounts"); err == nil && strings.Contains(string(mounts), prefix) {
		if report {
			t.Logf("mount: a mount of %s remains", prefix)
		}
		found = true
	}
	for _, path := range []string{dir, "/var/run/frr/" + prefix + "-router", "/etc/frr/" + prefix + "-router"} {
		if _, err := os.Stat(path); err == nil {
			if report {
				t.Logf("file: %s", path)
			}
			found = true
		}
	}
	return found
}

// TestTheLabRunsEveryComponentAsItsChartServiceAccount checks that the
// running controller and speakers have no privilege on the machine, and
// asks the API server who they are, with the kubeconfig each process was
// started with: the chart's ServiceAccounts, and for a speaker a token
// bound to its own node, never the administrator; kube-proxy runs as its
// own ServiceAccount with system:node-proxier's rights.
func TestTheLabRunsEveryComponentAsItsChartServiceAccount(t *testing.T) {
	l := startLab(t, 2)
	whoami := func(pid int) (string, map[string]authenticationv1.ExtraValue) {
		t.Helper()
		review, err := clientOf(t, pid).AuthenticationV1().SelfSubjectReviews().
			Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("who is process %d: %v", pid, err)
		}
		return review.Status.UserInfo.Username, review.Status.UserInfo.Extra
	}
	// As the chart's securityContext says: user 65532, no capability. A
	// process is checked once it runs the binary, after the tools that
	// enter the node's namespace and drop privileges have exec'd it.
	for _, pid := range append([]int{l.ControllerPID()}, l.SpeakerPID(l.Nodes[0]), l.SpeakerPID(l.Nodes[1])) {
		testpoll.Until(t, 10*time.Second, fmt.Sprintf("process %d runs a bgplb binary", pid), func() (bool, string) {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			return err == nil && strings.HasPrefix(exe, binDir+"/"), exe
		})
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Uid:\t65532\t65532\t65532\t65532\n", "CapPrm:\t0000000000000000\n", "CapEff:\t0000000000000000\n", "CapBnd:\t0000000000000000\n", "NoNewPrivs:\t1\n"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("process %d: /proc status lacks %q", pid, want)
			}
		}
	}
	if user, _ := whoami(l.ControllerPID()); user != "system:serviceaccount:bgplb-system:bgplb-controller" {
		t.Errorf("the controller runs as %q", user)
	}
	for _, n := range l.Nodes {
		user, extra := whoami(l.SpeakerPID(n))
		if user != "system:serviceaccount:bgplb-system:bgplb-speaker" {
			t.Errorf("the speaker of %s runs as %q", n.Name, user)
		}
		if node := extra["authentication.kubernetes.io/node-name"]; !slices.Equal(node, authenticationv1.ExtraValue{n.Name}) {
			t.Errorf("the speaker of %s holds a token of node %v", n.Name, node)
		}
		// kube-proxy runs as its own ServiceAccount, which may read what
		// system:node-proxier grants and change no Service.
		pid := l.KubeProxyPID(n)
		if user, _ := whoami(pid); user != "system:serviceaccount:kube-system:kube-proxy" {
			t.Errorf("kube-proxy on %s runs as %q", n.Name, user)
		}
		for _, check := range []struct {
			attrs authorizationv1.ResourceAttributes
			want  bool
		}{
			{authorizationv1.ResourceAttributes{Verb: "watch", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
			{authorizationv1.ResourceAttributes{Verb: "list", Resource: "services"}, true},
			{authorizationv1.ResourceAttributes{Verb: "update", Resource: "services", Namespace: "default"}, false},
			{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "kube-system"}, false},
		} {
			review, err := clientOf(t, pid).AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(),
				&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &check.attrs}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed != check.want {
				t.Errorf("kube-proxy on %s may %s %s: %v, want %v", n.Name, check.attrs.Verb, check.attrs.Resource, review.Status.Allowed, check.want)
			}
		}
	}
}

// clientOf returns a client with the identity of the kubeconfig that the
// process pid was started with (--kubeconfig PATH or --kubeconfig=PATH).
func clientOf(t *testing.T, pid int) kubernetes.Interface {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(cmdline), "\x00")
	path := ""
	for i, a := range args {
		if a == "--kubeconfig" && i+1 < len(args) {
			path = args[i+1]
		}
		if p, ok := strings.CutPrefix(a, "--kubeconfig="); ok {
			path = p
		}
	}
	if path == "" {
		t.Fatalf("process %d runs without --kubeconfig: %q", pid, args)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}
