package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bgplb/bgplb/internal/poll"
)

// process is a lab daemon whose output goes to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (l *Lab) spawn(name string, args ...string) (*process, error) {
	logPath := filepath.Join(l.Dir, name+".log")
	// Appending keeps the log of an earlier run of the same daemon (a
	// restarted speaker) for the tests that read it.
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// terminate sends sig and waits up to 15 s, then kills.
func (p *process) terminate(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// spawnDaemon spawns a daemon that runs until the lab closes, when it is
// asked to stop with SIGTERM.
func (l *Lab) spawnDaemon(name string, args ...string) (*process, error) {
	p, err := l.spawn(name, args...)
	if err != nil {
		return nil, err
	}
	l.onClose(func() error { p.terminate(syscall.SIGTERM); return nil })
	return p, nil
}

// StopSpeaker stops a node's speaker with sig (SIGTERM for a clean stop).
func (l *Lab) StopSpeaker(n *Node, sig syscall.Signal) {
	if n.speaker != nil {
		n.speaker.terminate(sig)
	}
}

// ControllerPID returns the process ID of the controller (0 if none runs).
func (l *Lab) ControllerPID() int {
	if l.controller == nil {
		return 0
	}
	return l.controller.cmd.Process.Pid
}

// SpeakerPID returns the process ID of a node's speaker (0 if none runs).
func (l *Lab) SpeakerPID(n *Node) int {
	if n.speaker == nil {
		return 0
	}
	return n.speaker.cmd.Process.Pid
}

// exited tells whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls ready until it holds, like poll.Until, but gives up as
// soon as the daemon exits: one that died at start never becomes ready,
// and its log says why.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, what string, ready poll.Condition) error {
	exited := false
	err := poll.Until(ctx, timeout, what, func() (bool, string) {
		if p.exited() {
			exited = true
			return true, ""
		}
		return ready()
	})
	if exited {
		log, _ := os.ReadFile(p.log)
		return fmt.Errorf("%s exited before %s; its log ends: %s", p.name, what, strings.TrimSpace(string(tailBytes(log, 2000))))
	}
	return err
}

// tailBytes returns the last n bytes of b.
func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
