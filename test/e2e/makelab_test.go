package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bgplb/bgplb/internal/k8s/testenv"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// make runs a make target in the repository and returns its output.
func runMake(t *testing.T, target string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	return string(out)
}

func TestMakeLabShowsTheServiceLoadBalancedAndMakeLabDownRemovesEverything(t *testing.T) {
	runMake(t, "lab-down") // a clean state, whatever an earlier run left
	summary := runMake(t, "lab")
	t.Cleanup(func() { runMake(t, "lab-down") })
	t.Logf("make lab printed:\n%s", summary)

	prefix := regexp.MustCompile(`ip netns exec (bl[0-9a-f]{4})-router`).FindStringSubmatch(summary)
	if prefix == nil {
		t.Fatal("the summary does not name the router namespace")
	}
	if got := strings.Count(summary, "Established"); got != 3 {
		t.Errorf("the summary shows %d Established sessions, want 3", got)
	}
	if !strings.Contains(summary, ": 3 next hops") {
		t.Error("the summary shows no route with three next hops")
	}
	// The sample peer uses the sample BFD profile, and the lab's router
	// runs BFD with every node.
	testpoll.Until(t, 30*time.Second, "the router has 3 BFD sessions up", func() (bool, string) {
		out, err := exec.Command("vtysh", "-N", prefix[1]+"-router", "-c", "show bfd peers json").Output()
		var peers []struct {
			Status string `json:"status"`
		}
		if err != nil || json.Unmarshal(out, &peers) != nil {
			return false, fmt.Sprint(string(out), err)
		}
		up := 0
		for _, p := range peers {
			if p.Status == "up" {
				up++
			}
		}
		return up == 3, string(out)
	})
	traffic := summary[strings.Index(summary, "Traffic:"):]
	for _, node := range []string{"node-0", "node-1", "node-2"} {
		if !regexp.MustCompile(node + `\s+[1-9][0-9]*`).MatchString(traffic) {
			t.Errorf("no traffic reached %s", node)
		}
	}
	if strings.Contains(traffic, "failed") {
		t.Error("some connections failed")
	}

	again := runMake(t, "lab")
	if !strings.Contains(again, "already running") || !strings.Contains(again, prefix[1]+"-router") {
		t.Errorf("a second make lab did not report the running lab:\n%s", again)
	}
	if !leftovers(t, prefix[1], "/nonexistent", false) {
		t.Fatal("the running lab is not visible to the leftover check")
	}
	runMake(t, "lab-down")
	if out := runMake(t, "lab-down"); !strings.Contains(out, "No lab is running") {
		t.Errorf("a second make lab-down said:\n%s", out)
	}
	if leftovers(t, prefix[1], "/nonexistent", true) {
		t.Error("make lab-down left something behind")
	}
}
