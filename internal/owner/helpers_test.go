package owner

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// propertySize is the table size of the property tests: a prime large
// enough for movement counts to mean something, small enough to build
// thousands of tables quickly.
const propertySize = 4093

// nameAlphabet holds the characters of Kubernetes node names.
const nameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-."

// randomName returns a name of 1 to 20 characters.
func randomName(r *rand.Rand) string {
	var b strings.Builder
	for range 1 + r.IntN(20) {
		b.WriteByte(nameAlphabet[r.IntN(len(nameAlphabet))])
	}
	return b.String()
}

// randomNames returns n distinct random names.
func randomNames(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	var names []string
	for len(names) < n {
		if name := randomName(r); !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// stateMix says which states a generated member set may hold.
type stateMix int

const (
	// steady sets have no drain in progress: Active and Joining nodes.
	steady stateMix = iota
	// anyState sets may hold Draining nodes too.
	anyState
)

func (m stateMix) String() string {
	if m == steady {
		return "steady"
	}
	return "any-state"
}

// randomMembers returns a set of 1..40 members with random names; about
// one in six is Joining and, with anyState, one in six Draining.
func randomMembers(r *rand.Rand, mix stateMix) []Member {
	names := randomNames(r, 1+r.IntN(40))
	members := make([]Member, len(names))
	for i, name := range names {
		members[i] = Member{Node: name}
		switch roll := r.IntN(6); {
		case roll == 0:
			members[i].State = Joining
		case roll == 1 && mix == anyState:
			members[i].State = Draining
		}
	}
	return members
}

// forEachSet calls check with count seeded member sets. The seed is fixed,
// so a failure names a set that fails again.
func forEachSet(t *testing.T, count int, mix stateMix, check func(t *testing.T, r *rand.Rand, members []Member)) {
	t.Helper()
	r := rand.New(rand.NewPCG(19, uint64(mix)))
	for i := range count {
		members := randomMembers(r, mix)
		t.Run(fmt.Sprintf("%s-set-%d", mix, i), func(t *testing.T) { check(t, r, members) })
	}
}

func mustBuild(t *testing.T, members []Member, size int) Table {
	t.Helper()
	table, err := Build(members, size)
	if err != nil {
		t.Fatalf("Build(%v, %d): %v", members, size, err)
	}
	return table
}

func withState(members []Member, node string, state State) []Member {
	changed := slices.Clone(members)
	for i := range changed {
		if changed[i].Node == node {
			changed[i].State = state
		}
	}
	return changed
}

func without(members []Member, node string) []Member {
	return slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.Node == node })
}

func stateOf(members []Member, node string) (State, bool) {
	i := slices.IndexFunc(members, func(m Member) bool { return m.Node == node })
	if i < 0 {
		return Active, false
	}
	return members[i].State, true
}

func countState(members []Member, state State) int {
	n := 0
	for _, m := range members {
		if m.State == state {
			n++
		}
	}
	return n
}

// pickState returns a random member in the given state, false if none is.
func pickState(r *rand.Rand, members []Member, state State) (string, bool) {
	var names []string
	for _, m := range members {
		if m.State == state {
			names = append(names, m.Node)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	return names[r.IntN(len(names))], true
}

// ranking returns the Active and Draining members in the order the
// package documentation gives for a bucket, computed the slow way: every
// score from scratch, then a sort.
func ranking(members []Member, bucket int) []Member {
	ranked := slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.State == Joining })
	slices.SortFunc(ranked, func(a, b Member) int {
		sa, sb := score(nodeHash(a.Node), bucketHash(bucket)), score(nodeHash(b.Node), bucketHash(bucket))
		return cmp.Or(cmp.Compare(sb, sa), strings.Compare(a.Node, b.Node))
	})
	return ranked
}

// ranksAbove reports whether node a ranks above node b in a bucket.
func ranksAbove(members []Member, bucket int, a, b string) bool {
	ranked := ranking(members, bucket)
	ia := slices.IndexFunc(ranked, func(m Member) bool { return m.Node == a })
	ib := slices.IndexFunc(ranked, func(m Member) bool { return m.Node == b })
	return ia >= 0 && (ib < 0 || ia < ib)
}
