// Package testenv starts a real kube-apiserver and etcd for integration
// tests, using the binaries that hack/build-kube-tools.sh caches and
// Debian's etcd, and installs bgplb's CRDs.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bgplb/bgplb/internal/poll"
)

// RepoRoot returns the root of the bgplb checkout, found by walking up from
// the working directory to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(data), "module github.com/bgplb/bgplb\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no bgplb go.mod above the working directory")
		}
		dir = parent
	}
}

// KubeVersion is the Kubernetes release matching the client-go that
// go.mod requires (client-go v0.X.Y belongs to Kubernetes v1.X.Y).
func KubeVersion(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "k8s.io/client-go" {
			return "v1." + strings.TrimPrefix(fields[1], "v0."), nil
		}
	}
	return "", fmt.Errorf("go.mod does not require k8s.io/client-go")
}

// BinDir is where kube-apiserver, kubectl and kube-proxy are cached
// (hack/build-kube-tools.sh builds them). BGPLB_KUBE_BIN overrides it.
func BinDir() (string, error) {
	if dir := os.Getenv("BGPLB_KUBE_BIN"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	version, err := KubeVersion(root)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "kube", version), nil
}

// Env is a running API server.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
	dir    string // holds etcd's data and the API server's certificates
	extra  []*exec.Cmd
}

// Options adjust the API server.
type Options struct {
	// ListenAddress is the address the API server serves on, for clients
	// in other network namespaces; empty means 127.0.0.1. Its serving
	// certificate names the address.
	ListenAddress string
	// WithoutCRDs starts the API server without bgplb's CRDs, for tests
	// that install them the way users do.
	WithoutCRDs bool
	// Name goes into the name of the directory that holds etcd's data and
	// the certificates, and so into the command line of both processes:
	// whoever starts the environment can then find what a killed run left
	// behind, with DirGlob.
	Name string
}

// DirGlob matches the directories of environments started with Name
// name.
func DirGlob(name string) string {
	return filepath.Join(tmpfsDir(), dirPrefix(name)+"*")
}

func dirPrefix(name string) string {
	if name == "" {
		return "bgplb-apiserver-"
	}
	return "bgplb-apiserver-" + name + "-"
}

// Start runs etcd (data on tmpfs) and kube-apiserver with dual-stack
// Service cluster IPs and Node and RBAC authorization, installs the CRDs
// from config/crd and waits until they are served.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(opts Options) (*Env, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	apiserver := filepath.Join(bin, "kube-apiserver")
	if _, err := os.Stat(apiserver); err != nil {
		return nil, fmt.Errorf("kube-apiserver not built (run hack/build-kube-tools.sh or make setup): %w", err)
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd not installed (apt-get install etcd-server, or make setup): %w", err)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	// etcd's fsync per write would make the disk, not bgplb, the limit.
	dir, err := os.MkdirTemp(tmpfsDir(), dirPrefix(opts.Name))
	if err != nil {
		return nil, fmt.Errorf("API server data dir: %w", err)
	}
	dataDir := filepath.Join(dir, "etcd")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return nil, err
	}

	env := &envtest.Environment{}
	if !opts.WithoutCRDs {
		env.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd")}
		env.ErrorIfCRDPathMissing = true
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd, DataDir: dataDir}
	// The API server's certificates live beside etcd's data, so that one
	// directory names every process and file of this environment.
	env.ControlPlane.APIServer = &envtest.APIServer{Path: apiserver, CertDir: filepath.Join(dir, "certs")}
	if opts.ListenAddress != "" {
		port, err := FreePort(opts.ListenAddress)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		env.ControlPlane.APIServer.SecureServing.ListenAddr = envtest.ListenAddr{Address: opts.ListenAddress, Port: port}
	}
	// Authorization as in a real cluster: kubelets through the Node
	// authorizer, everyone else through RBAC, so that bgplb's own roles are
	// what its components are allowed to do.
	env.ControlPlane.APIServer.Configure().
		Set("authorization-mode", "Node,RBAC").
		Set("service-cluster-ip-range", "10.96.0.0/16,fd10:96::/112").
		Set("max-requests-inflight", "1600").
		Set("max-mutating-requests-inflight", "800")
	env.ControlPlane.KubectlPath = filepath.Join(bin, "kubectl")

	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o700); err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start API server: %w", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	return &Env{env: env, Config: cfg, dir: dir}, nil
}

// Dir holds etcd's data and the API server's certificates; every process
// of the environment names it on its command line.
func (e *Env) Dir() string { return e.dir }

// Stop ends the API server and etcd and removes their files.
func (e *Env) Stop() error {
	for _, cmd := range e.extra {
		_ = cmd.Process.Kill()
	}
	err := e.env.Stop()
	os.RemoveAll(e.dir)
	return err
}

// tmpfsDir is where etcd keeps its data: BGPLB_TMPFS (set by hack/test.sh,
// which removes it afterwards), else /dev/shm.
func tmpfsDir() string {
	if dir := os.Getenv("BGPLB_TMPFS"); dir != "" {
		return dir
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// WriteKubeconfig writes a kubeconfig for an administrator of the API
// server, for kubectl and for binaries started as separate processes.
func (e *Env) WriteKubeconfig(path string) error {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "bgplb-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("render kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}

// FreePort asks the kernel for a TCP port that is free on addr.
func FreePort(addr string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// StopAPIServer ends the kube-apiserver process (etcd keeps running) and
// returns a function that starts it again with the same arguments, port and
// certificates, so that clients reconnect as after a real outage.
func (e *Env) StopAPIServer() (restart func() error, err error) {
	pid, args, err := e.apiserverProcess()
	if err != nil {
		return nil, err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, err
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("stop kube-apiserver: %w", err)
	}
	err = poll.Until(context.Background(), 20*time.Second, "kube-apiserver exits", func() (bool, string) {
		return syscall.Kill(pid, 0) != nil, ""
	})
	if err != nil {
		_ = proc.Kill()
	}
	return func() error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("restart kube-apiserver: %w", err)
		}
		// Stop ends the restarted process: envtest only knows the first.
		e.extra = append(e.extra, cmd)
		go func() { _ = cmd.Wait() }()
		return nil
	}, nil
}

// apiserverProcess finds this environment's kube-apiserver by its
// certificate directory, which no other API server shares.
func (e *Env) apiserverProcess() (int, []string, error) {
	marker := "--cert-dir=" + filepath.Join(e.dir, "certs")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, err
	}
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "kube-apiserver" && slices.Contains(args, marker) {
			return pid, args, nil
		}
	}
	return 0, nil, fmt.Errorf("no running kube-apiserver with %s", marker)
}
