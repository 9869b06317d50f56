package owner

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The tests in this file check the rule of the package documentation and
// its consequences on many seeded member sets of 1 to 40 random names.

// ownersByRule applies the rule as the package documentation words it,
// to a ranking computed from scratch.
func ownersByRule(members []Member, bucket int) (primary, secondary string) {
	ranked := ranking(members, bucket)
	if first := slices.IndexFunc(ranked, func(m Member) bool { return m.State == Active }); first >= 0 {
		primary = ranked[first].Node
	}
	// The secondary: the first ranked node, Active or Draining, that is
	// not the primary.
	if other := slices.IndexFunc(ranked, func(m Member) bool { return m.State != Joining && m.Node != primary }); other >= 0 {
		secondary = ranked[other].Node
	}
	return primary, secondary
}

func TestBuildFollowsTheRule(t *testing.T) {
	t.Parallel()
	forEachSet(t, 60, anyState, func(t *testing.T, _ *rand.Rand, members []Member) {
		table := mustBuild(t, members, propertySize)
		for b := range propertySize {
			gotPrimary, gotSecondary := table.Owner(b)
			wantPrimary, wantSecondary := ownersByRule(members, b)
			if gotPrimary != wantPrimary || gotSecondary != wantSecondary {
				t.Fatalf("bucket %d of %v: owners %q, %q; the rule gives %q, %q",
					b, members, gotPrimary, gotSecondary, wantPrimary, wantSecondary)
			}
		}
	})
}

func TestNodesAreTheActiveAndDrainingMembersSorted(t *testing.T) {
	t.Parallel()
	forEachSet(t, 200, anyState, func(t *testing.T, _ *rand.Rand, members []Member) {
		var want []string
		for _, m := range members {
			if m.State != Joining {
				want = append(want, m.Node)
			}
		}
		slices.Sort(want)
		if table := mustBuild(t, members, 2); !slices.Equal(table.Nodes, want) {
			t.Errorf("Build(%v).Nodes = %q, want %q", members, table.Nodes, want)
		}
	})
}

func TestMemberOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	forEachSet(t, 100, anyState, func(t *testing.T, r *rand.Rand, members []Member) {
		want := mustBuild(t, members, propertySize)
		shuffled := slices.Clone(members)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := mustBuild(t, shuffled, propertySize)
		if !slices.Equal(got.Nodes, want.Nodes) || !slices.Equal(got.Buckets, want.Buckets) {
			t.Errorf("members %v and %v, the same set in another order, give different tables", members, shuffled)
		}
	})
}

func TestOnlyActiveNodesArePrimaries(t *testing.T) {
	t.Parallel()
	forEachSet(t, 200, anyState, func(t *testing.T, _ *rand.Rand, members []Member) {
		table := mustBuild(t, members, propertySize)
		anyActive := countState(members, Active) > 0
		for b := range propertySize {
			primary, secondary := table.Owner(b)
			if state, _ := stateOf(members, primary); primary != "" && state != Active {
				t.Fatalf("bucket %d: primary %q is %s", b, primary, state)
			}
			if anyActive != (primary != "") {
				t.Fatalf("bucket %d: primary %q, with %d Active members", b, primary, countState(members, Active))
			}
			if secondary != "" && secondary == primary {
				t.Fatalf("bucket %d: %q is both primary and secondary", b, primary)
			}
		}
	})
}

func TestJoiningNodesAppearNowhere(t *testing.T) {
	t.Parallel()
	forEachSet(t, 200, anyState, func(t *testing.T, _ *rand.Rand, members []Member) {
		got := mustBuild(t, members, propertySize)
		want := mustBuild(t, slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.State == Joining }), propertySize)
		if !slices.Equal(got.Nodes, want.Nodes) || !slices.Equal(got.Buckets, want.Buckets) {
			t.Errorf("the table of %v differs from the one without its Joining members", members)
		}
	})
}

func TestRemovingANodeMovesOnlyItsBuckets(t *testing.T) {
	t.Parallel()
	forEachSet(t, 200, anyState, func(t *testing.T, r *rand.Rand, members []Member) {
		gone := members[r.IntN(len(members))].Node
		before := mustBuild(t, members, propertySize)
		after := mustBuild(t, without(members, gone), propertySize)
		for _, m := range movedBuckets(before, after) {
			if m.oldPrimary != gone {
				t.Fatalf("removing %q from %v moved bucket %d from %q to %q", gone, members, m.bucket, m.oldPrimary, m.newPrimary)
			}
		}
	})
}

// A drain moves only the draining node's buckets, and each remembers it,
// unless an older drain in progress ranks above it there (the package
// documentation says why that one wins): in steady sets, never.
func TestDrainingANodeMovesOnlyItsBucketsWhichRememberIt(t *testing.T) {
	t.Parallel()
	for _, mix := range []stateMix{steady, anyState} {
		forEachSet(t, 150, mix, func(t *testing.T, r *rand.Rand, members []Member) {
			drained, ok := pickState(r, members, Active)
			if !ok {
				t.Skip("no Active member to drain")
			}
			before := mustBuild(t, members, propertySize)
			after := mustBuild(t, withState(members, drained, Draining), propertySize)
			for _, m := range movedBuckets(before, after) {
				if m.oldPrimary != drained {
					t.Fatalf("draining %q moved bucket %d from %q to %q", drained, m.bucket, m.oldPrimary, m.newPrimary)
				}
				olderDrain := mix == anyState && m.newSecondary != "" && ranksAbove(members, m.bucket, m.newSecondary, drained)
				if m.newSecondary != drained && !olderDrain {
					t.Fatalf("draining %q moved bucket %d to %q with secondary %q, want %q",
						drained, m.bucket, m.newPrimary, m.newSecondary, drained)
				}
			}
		})
	}
}

// A join takes about 1/N of the buckets, only from their primaries, and
// each remembers its old primary, unless a drain in progress ranks above
// the new node there and the bucket keeps remembering that: in steady
// sets, never.
func TestAddingANodeMovesAboutOneNthWhichRememberTheOldPrimary(t *testing.T) {
	t.Parallel()
	for _, mix := range []stateMix{steady, anyState} {
		forEachSet(t, 150, mix, func(t *testing.T, r *rand.Rand, members []Member) {
			added := randomName(r)
			if _, taken := stateOf(members, added); taken {
				t.Skipf("random name %q is taken", added)
			}
			before := mustBuild(t, members, propertySize)
			after := mustBuild(t, append(slices.Clone(members), Member{Node: added}), propertySize)
			for _, m := range movedBuckets(before, after) {
				if m.newPrimary != added {
					t.Fatalf("adding %q moved bucket %d from %q to %q", added, m.bucket, m.oldPrimary, m.newPrimary)
				}
				keptDrain := mix == anyState && m.newSecondary == m.oldSecondary &&
					ranksAbove(members, m.bucket, m.newSecondary, m.oldPrimary)
				if m.newSecondary != m.oldPrimary && !keptDrain {
					t.Fatalf("adding %q took bucket %d from %q with secondary %q, want %q",
						added, m.bucket, m.oldPrimary, m.newSecondary, m.oldPrimary)
				}
			}
			checkShareMoved(t, Moved(before, after), countState(members, Active)+1)
		})
	}
}

// checkShareMoved checks that a join among active nodes moved about 1/active
// of the buckets: within 5 standard deviations of the binomial count.
func checkShareMoved(t *testing.T, moved, active int) {
	t.Helper()
	p := 1 / float64(active)
	mean := propertySize * p
	sd := math.Sqrt(propertySize * p * (1 - p))
	if math.Abs(float64(moved)-mean) > 5*sd {
		t.Errorf("a join to %d Active nodes moved %d of %d buckets, want %.0f ± %.0f (5 standard deviations)",
			active, moved, propertySize, mean, 5*sd)
	}
}

// movedBucket is a bucket whose primary differs between two tables.
type movedBucket struct {
	bucket                   int
	oldPrimary, oldSecondary string
	newPrimary, newSecondary string
}

func movedBuckets(before, after Table) []movedBucket {
	var moved []movedBucket
	for b := range before.Buckets {
		m := movedBucket{bucket: b}
		m.oldPrimary, m.oldSecondary = before.Owner(b)
		m.newPrimary, m.newSecondary = after.Owner(b)
		if m.newPrimary != m.oldPrimary {
			moved = append(moved, m)
		}
	}
	return moved
}

// A rolling update of a Local Service: a node J joins (its new pod is
// ready), then the node X whose pod it replaces drains (the old pod
// terminates). Every bucket X owned before J joined still names X, as
// primary or secondary, and every bucket J took when it joined still has
// J as primary: no connection of either is forgotten.
func TestARollingUpdateForgetsNeitherOwner(t *testing.T) {
	t.Parallel()
	forEachSet(t, 60, steady, func(t *testing.T, r *rand.Rand, members []Member) {
		x, ok := pickState(r, members, Active)
		if !ok {
			return
		}
		before := mustBuild(t, members, propertySize)
		joined := append(slices.Clone(members), Member{Node: "joining-" + randomName(r)})
		j := joined[len(joined)-1].Node
		afterJoin := mustBuild(t, joined, propertySize)
		drained := slices.Clone(joined)
		for i := range drained {
			if drained[i].Node == x {
				drained[i].State = Draining
			}
		}
		after := mustBuild(t, drained, propertySize)
		for b := range propertySize {
			if p, _ := before.Owner(b); p == x {
				if p2, s2 := after.Owner(b); p2 != x && s2 != x {
					t.Fatalf("bucket %d: %s owned it before %s joined, and after it drained the owners are %q, %q", b, x, j, p2, s2)
				}
			}
			if p, _ := afterJoin.Owner(b); p == j {
				if p2, _ := after.Owner(b); p2 != j {
					t.Fatalf("bucket %d: %s took it when it joined, and after %s drained the primary is %q", b, j, x, p2)
				}
			}
		}
	})
}
