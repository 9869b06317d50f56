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
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	kubectl := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}

	step("starting the bgplb controller")
	ctrl := exec.Command(filepath.Join(root, ".cache", "bin", "controller"),
		"--kubeconfig", kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	logFile, err := os.Create(filepath.Join(work, "controller.log"))
	if err != nil {
		return err
	}
	ctrl.Stdout, ctrl.Stderr = logFile, logFile
	if err := ctrl.Start(); err != nil {
		return fmt.Errorf("start controller (run make build first): %w", err)
	}
	defer func() {
		_ = ctrl.Process.Signal(syscall.SIGTERM)
		_ = ctrl.Wait()
	}()

	step("applying config/samples")
	if out, err := kubectl("apply", "-f", filepath.Join(root, "config", "samples")); err != nil {
		return err
	} else {
		fmt.Print(indent(out))
	}

	step("waiting for Service default/web to get its addresses")
	err = poll.Until(context.Background(), 30*time.Second, "Service default/web has two addresses", func() (bool, string) {
		out, err := kubectl("get", "service", "web", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		return err == nil && len(strings.Fields(out)) == 2, fmt.Sprint(out, err)
	})
	if err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("%w; controller log:\n%s", err, log)
	}
	for _, args := range [][]string{
		{"get", "service", "web", "-o", "wide"},
		{"get", "ippools"},
		{"get", "events", "--field-selector", "involvedObject.name=web"},
	} {
		out, err := kubectl(args...)
		if err != nil {
			return err
		}
		fmt.Print("\n$ kubectl " + strings.Join(args, " ") + "\n" + out)
	}

	if wait {
		fmt.Printf("\nThe API server and controller keep running. Try:\n  %s --kubeconfig %s get svc -A\nPress Ctrl-C to stop and clean up.\n", filepath.Join(bin, "kubectl"), kubeconfig)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
	}
	step("stopping and cleaning up")
	return nil
}

func step(msg string) { fmt.Println("==> " + msg) }

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
