package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bgplb/bgplb/internal/poll"
)

// run executes a command and returns its standard output; a failure quotes
// the command and everything it printed.
func run(name string, args ...string) (string, error) {
	return runInput("", name, args...)
}

// runInput is run with the given standard input.
func runInput(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()+out.String()))
	}
	return out.String(), nil
}

// ip runs the ip command, in a namespace if ns is not empty.
func ip(ns string, args ...string) error {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	_, err := run("ip", args...)
	return err
}

// nsRun runs a command inside a network namespace.
func nsRun(ns string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// inNetns runs fn on an OS thread switched into the namespace. Sockets
// created by fn belong to that namespace for their whole life, so a test
// process can listen and dial inside the lab without helper processes.
func inNetns(ns string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return fmt.Errorf("open own namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace; never give it back to the
		// scheduler (LockOSThread without Unlock ends it with the goroutine).
		runtime.LockOSThread()
		return fmt.Errorf("return from namespace %s: %w", ns, err)
	}
	return fnErr
}

// stopPIDFile ends the daemon whose process ID a pid file holds: SIGTERM,
// up to 5 s to exit, then SIGKILL.
func stopPIDFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	// A daemon that outlives the wait is killed below.
	_ = poll.Until(context.Background(), 5*time.Second, "the daemon exits", func() (bool, string) {
		return !processAlive(pid), ""
	})
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
