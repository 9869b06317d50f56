package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// `make lab` with a BIRD or GoBGP router is as healthy as with FRR: BIRD
// runs BFD for the sample peer's profile, and the GoBGP lab, whose router
// has no BFD, takes the profile off the peer, so bgplbctl status lists no
// problem (a peer asking for BFD that never comes up would be one).
func TestTheLabWithEachRouterStartsWithoutProblems(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, router := range []string{"bird", "gobgp"} {
		t.Run(router, func(t *testing.T) {
			runMake(t, "lab-down")
			t.Cleanup(func() { runMake(t, "lab-down") })
			runMake(t, "lab", "ROUTER="+router)
			testpoll.Until(t, 60*time.Second, "bgplbctl status reports a healthy lab", func() (bool, string) {
				cmd := exec.Command("bash", "-c", `eval "$(.cache/bin/bgplb-lab env)" && bgplbctl status -o json`)
				cmd.Dir = root
				out, err := cmd.Output()
				var report struct {
					Healthy  bool       `json:"healthy"`
					Problems []string   `json:"problems"`
					Sessions []struct{} `json:"sessions"`
				}
				if err == nil {
					err = json.Unmarshal(out, &report)
				}
				if err != nil {
					return false, fmt.Sprintf("%s (%v)", out, err)
				}
				return report.Healthy && len(report.Sessions) == 3, strings.Join(report.Problems, "; ")
			})
		})
	}
}
