// Command demo starts a local API server and the bgplb controller, applies
// the samples from config/samples and shows a Service receiving its
// addresses. With -wait it keeps everything running until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/poll"
)

func main() {
	wait := flag.Bool("wait", false, "keep the API server and controller running until interrupted")
	flag.Parse()
	if err := run(*wait); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run starts the API server and the controller, applies the samples and
// shows what the controller made of them; with wait, it keeps both running
// until interrupted.
func run(wait bool) (err error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	bin, err := testenv.BinDir()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bgplb-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	step("starting etcd and kube-apiserver")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	k := kubectl{path: filepath.Join(bin, "kubectl"), kubeconfig: filepath.Join(work, "kubeconfig")}
	if err := env.WriteKubeconfig(k.kubeconfig); err != nil {
		return err
	}

	step("starting the bgplb controller")
	stopController, controllerLog, err := startController(root, k.kubeconfig, work)
	if err != nil {
		return err
	}
	defer stopController()

	step("applying config/samples")
	out, err := k.run("apply", "-f", filepath.Join(root, "config", "samples"))
	if err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("waiting for Service default/web to get its addresses")
	if err := waitForAddresses(k, controllerLog); err != nil {
		return err
	}
	if err := showService(k); err != nil {
		return err
	}

	if wait {
		// The handler stays until run returns, so that a second Ctrl-C
		// does not cut the cleanup short.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		printHowToReach(k)
		<-ctx.Done()
	}
	step("stopping and cleaning up")
	return nil
}

// kubectl runs the kubectl binary at path against the API server that
// kubeconfig names.
type kubectl struct{ path, kubeconfig string }

// run returns kubectl's output, or an error that quotes the command and
// its output.
func (k kubectl) run(args ...string) (string, error) {
	cmd := exec.Command(k.path, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// startController starts the controller built by make build, logging to
// a file in work; stop ends it and returns once it has exited.
func startController(root, kubeconfig, work string) (stop func(), logPath string, err error) {
	ctrl := exec.Command(filepath.Join(root, ".cache", "bin", "controller"),
		"--kubeconfig", kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	logFile, err := os.Create(filepath.Join(work, "controller.log"))
	if err != nil {
		return nil, "", err
	}
	ctrl.Stdout, ctrl.Stderr = logFile, logFile
	if err := ctrl.Start(); err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("start controller (run make build first): %w", err)
	}
	stop = func() {
		_ = ctrl.Process.Signal(syscall.SIGTERM)
		_ = ctrl.Wait()
		logFile.Close()
	}
	return stop, logFile.Name(), nil
}

// waitForAddresses waits until Service default/web has its two addresses;
// if it does not, the error carries the controller's log.
func waitForAddresses(k kubectl, controllerLog string) error {
	err := poll.Until(context.Background(), 30*time.Second, "Service default/web has two addresses", func() (bool, string) {
		out, err := k.run("get", "service", "web", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		return err == nil && len(strings.Fields(out)) == 2, fmt.Sprint(out, err)
	})
	if err != nil {
		log, _ := os.ReadFile(controllerLog)
		return fmt.Errorf("%w; controller log:\n%s", err, log)
	}
	return nil
}

// showService prints the Service, the pools and the Service's events as
// kubectl shows them.
func showService(k kubectl) error {
	for _, args := range [][]string{
		{"get", "service", "web", "-o", "wide"},
		{"get", "ippools"},
		{"get", "events", "--field-selector", "involvedObject.name=web"},
	} {
		out, err := k.run(args...)
		if err != nil {
			return err
		}
		fmt.Print("\n$ kubectl " + strings.Join(args, " ") + "\n" + out)
	}
	return nil
}

// printHowToReach tells how to reach the API server that keeps running.
func printHowToReach(k kubectl) {
	fmt.Printf("\nThe API server and controller keep running. Try:\n  %s --kubeconfig %s get svc -A\nPress Ctrl-C to stop and clean up.\n", k.path, k.kubeconfig)
}

func step(msg string) { fmt.Println("==> " + msg) }

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
