package lab

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouterConfigurationsAreValid renders the BIRD and gobgpd
// configurations for each kind of neighbours, eBGP and iBGP, with and
// without a password, and has each daemon check its own (bird -p, gobgpd
// -d) without starting it.
func TestRouterConfigurationsAreValid(t *testing.T) {
	t.Parallel()
	nodes := []*Node{
		{Addr4: netip.MustParseAddr("198.18.0.10")},
		{Addr4: netip.MustParseAddr("198.18.0.11")},
	}
	for _, router := range []struct {
		name   string
		render func(l *Lab) (string, error)
		check  func(path string) *exec.Cmd
		// static and dynamic are what each kind's configuration must
		// contain; neither may contain the other's.
		static, dynamic string
	}{
		{"bird", func(l *Lab) (string, error) { return l.birdConf("ns") },
			func(path string) *exec.Cmd { return exec.Command(birdBin, "-p", "-c", path) },
			"neighbor 198.18.0.11 as", "neighbor range 198.18.0.0/24 as"},
		{"gobgp", func(l *Lab) (string, error) { return l.gobgpConf("ns") },
			func(path string) *exec.Cmd { return exec.Command(gobgpdBin, "-d", "-f", path) },
			`neighbor-address = "198.18.0.11"`, `prefix = "198.18.0.0/24"`},
	} {
		for _, neighbours := range []string{"", StaticNeighbours, DynamicNeighbours} {
			for _, cfg := range []Config{{}, {IBGP: true, RouterPassword: "lab secret"}} {
				cfg.Neighbours = neighbours
				name := router.name + "/" + neighbours
				if neighbours == "" {
					name = router.name + "/default"
				}
				if cfg.IBGP {
					name += "/ibgp-password"
				}
				t.Run(name, func(t *testing.T) {
					l := &Lab{cfg: cfg, Nodes: nodes}
					conf, err := router.render(l)
					if router.name == "gobgp" && neighbours == DynamicNeighbours && cfg.RouterPassword != "" {
						if err == nil || !strings.Contains(err.Error(), "TCP-MD5") {
							t.Errorf("a password with dynamic neighbours: error %v, want one that explains gobgpd's TCP-MD5", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					want, unwanted := router.static, router.dynamic
					if neighbours == DynamicNeighbours {
						want, unwanted = unwanted, want
					}
					if !strings.Contains(conf, want) || strings.Contains(conf, unwanted) {
						t.Errorf("configuration lacks %q or has %q:\n%s", want, unwanted, conf)
					}
					if cfg.RouterPassword != "" && !strings.Contains(conf, `"lab secret"`) {
						t.Errorf("configuration lacks the password:\n%s", conf)
					}
					path := filepath.Join(t.TempDir(), "router.conf")
					if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
						t.Fatal(err)
					}
					if out, err := router.check(path).CombinedOutput(); err != nil {
						t.Errorf("%s rejects its configuration: %v\n%s\n%s", router.name, err, out, conf)
					}
				})
			}
		}
		t.Run(router.name+"/unknown", func(t *testing.T) {
			l := &Lab{cfg: Config{Neighbours: "some"}, Nodes: nodes}
			if _, err := router.render(l); err == nil || !strings.Contains(err.Error(), `"some"`) {
				t.Errorf("neighbours %q: error %v, want one quoting the value", "some", err)
			}
		})
	}
}
