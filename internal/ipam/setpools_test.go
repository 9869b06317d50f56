package ipam

import (
	"maps"
	"slices"
	"testing"
)

// The tests in this file check the steps of SetPools one by one;
// pools_test.go checks SetPools as a whole.

func poolNames(pools []Pool) []string {
	names := make([]string, len(pools))
	for i, p := range pools {
		names[i] = p.Name
	}
	return names
}

func TestFirstDefinitionsKeepsTheFirstOfEachName(t *testing.T) {
	t.Parallel()
	first := pool("a", "203.0.113.0/24")
	var refused rejections
	got := firstDefinitions([]Pool{first, pool("b", "198.51.100.0/24"), pool("a", "192.0.2.0/24"), pool("a", "192.0.2.0/25")}, &refused)
	if !slices.Equal(poolNames(got), []string{"a", "b"}) || got[0].Ranges[0] != first.Ranges[0] {
		t.Errorf("kept %v, want the first a and b", got)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(refused)), []string{"a"}) {
		t.Fatalf("refused %v, want only a", refused)
	}
	// Each later definition is reported, joined into one error.
	checkError(t, refused["a"], `pool "a" is defined more than once; only the first definition counts`+"\n"+`pool "a" is defined more than once`, ErrInvalidPool)
}

func TestFirstDefinitionsRefusesNothingWithoutDuplicates(t *testing.T) {
	t.Parallel()
	var refused rejections
	firstDefinitions([]Pool{pool("a", "203.0.113.0/24"), pool("b", "198.51.100.0/24")}, &refused)
	if refused != nil {
		t.Errorf("refused = %v, want nil", refused)
	}
}

func TestSortInUseFirstKeepsThePreviousOrderThenTheGivenOne(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t, pool("y", "203.0.113.0/24"), pool("x", "198.51.100.0/24"))
	pools := []Pool{pool("new1", "192.0.2.0/26"), pool("x", "198.51.100.0/24"), pool("new2", "192.0.2.64/26"), pool("y", "203.0.113.0/24")}
	a.sortInUseFirst(pools)
	if got, want := poolNames(pools), []string{"y", "x", "new1", "new2"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestCheckPools(t *testing.T) {
	t.Parallel()
	inUse := pool("used", "203.0.113.0/24")
	tests := []struct {
		name         string
		pools        []Pool            // in checking order
		wantVersions map[string]string // pool name → its first range
		wantRefused  map[string]string // pool name → part of its error
	}{
		{
			name:         "a valid edit of a pool in use is taken",
			pools:        []Pool{pool("used", "203.0.113.0/25")},
			wantVersions: map[string]string{"used": "203.0.113.0/25"},
		},
		{
			name:         "a refused edit of a pool in use keeps the previous version",
			pools:        []Pool{{Name: "used"}},
			wantVersions: map[string]string{"used": "203.0.113.0/24"},
			wantRefused:  map[string]string{"used": `pool "used" has no address ranges; the pool keeps its previous version`},
		},
		{
			name:         "a refused new pool gets no version",
			pools:        []Pool{inUse, pool("new", "203.0.113.128/25")},
			wantVersions: map[string]string{"used": "203.0.113.0/24"},
			wantRefused:  map[string]string{"new": `pool "new": range "203.0.113.128/25" overlaps range "203.0.113.0/24" of pool "used"`},
		},
		{
			name:         "an edit is checked against the previous version of a pool checked later",
			pools:        []Pool{pool("new", "198.51.100.0/24"), pool("used", "198.51.100.0/25")},
			wantVersions: map[string]string{"new": "198.51.100.0/24", "used": "203.0.113.0/24"},
			wantRefused:  map[string]string{"used": `overlaps range "198.51.100.0/24" of pool "new"; the pool keeps its previous version`},
		},
		{
			name:         "a pool overlapping only a refused pool is taken",
			pools:        []Pool{inUse, pool("refused", "203.0.113.0/25", "198.51.100.0/24"), pool("later", "198.51.100.0/24")},
			wantVersions: map[string]string{"used": "203.0.113.0/24", "later": "198.51.100.0/24"},
			wantRefused:  map[string]string{"refused": `overlaps range "203.0.113.0/24" of pool "used"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocatorWith(t, inUse)
			var refused rejections
			versions := a.checkPools(tt.pools, &refused)
			got := make(map[string]string, len(versions))
			for name, v := range versions {
				got[name] = v.Ranges[0].String()
			}
			if !maps.Equal(got, tt.wantVersions) {
				t.Errorf("versions = %v, want %v", got, tt.wantVersions)
			}
			if len(refused) != len(tt.wantRefused) {
				t.Errorf("refused = %v, want errors for %v", refused, tt.wantRefused)
			}
			for name, want := range tt.wantRefused {
				checkError(t, refused[name], want, ErrInvalidPool)
			}
		})
	}
}

func TestCheckPoolsKeepsNoAliasOfTheCallersPool(t *testing.T) {
	t.Parallel()
	p := pool("a", "203.0.113.0/24")
	var refused rejections
	versions := NewAllocator().checkPools([]Pool{p}, &refused)
	p.Ranges[0] = mustRange("198.51.100.0/24")
	if got := versions["a"].Ranges[0].String(); got != "203.0.113.0/24" {
		t.Errorf("the caller's edit reached the pool in use: its range is %s", got)
	}
}

func TestPoolStatesKeepTheSearchStateOfUnchangedRanges(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t, pool("a", "203.0.113.0/24", "198.51.100.0/24"))
	old := a.poolByName["a"].ranges[0]
	tests := []struct {
		name     string
		version  Pool
		wantKept []bool // per IPv4 range of the new version, by address
	}{
		{"a range the pool keeps keeps its state", pool("a", "198.51.100.0/24", "192.0.2.0/24"), []bool{false, true}},
		{"a changed AvoidBuggyIPs starts afresh", with2(pool("a", "203.0.113.0/24", "198.51.100.0/24"), func(p *Pool) { p.AvoidBuggyIPs = true }), []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := a.poolStates([]Pool{tt.version}, map[string]Pool{"a": tt.version})
			if len(states) != 1 {
				t.Fatalf("got %d states, want 1", len(states))
			}
			for i, rs := range states[0].ranges[familyIndex(IPv4)] {
				if kept := slices.Contains(old, rs); kept != tt.wantKept[i] {
					t.Errorf("range %s: kept its state = %v, want %v", rs.Range, kept, tt.wantKept[i])
				}
				if rs.pool != states[0] {
					t.Errorf("range %s does not point at its new pool", rs.Range)
				}
			}
		})
	}
	t.Run("a pool without a version gets no state", func(t *testing.T) {
		if states := a.poolStates([]Pool{pool("gone", "192.0.2.0/24")}, map[string]Pool{}); len(states) != 0 {
			t.Errorf("got %d states, want none", len(states))
		}
	})
}

func TestReleaseMisfitsReleasesExactlyTheServicesOutsideTheirPool(t *testing.T) {
	t.Parallel()
	a := newAllocatorWith(t, pool("a", "203.0.113.0/24"))
	for _, name := range []string{"z", "b", "c"} {
		mustAssign(t, a, svc(name))
	}
	// Install a version of the pool without .0 and .1 without going through
	// SetPools, which would release them itself.
	narrow := pool("a", "203.0.113.2-203.0.113.255")
	a.install(a.poolStates([]Pool{narrow}, map[string]Pool{"a": narrow}), nil)
	if got, want := a.releaseMisfits(), []string{"default/b", "default/z"}; !slices.Equal(got, want) {
		t.Errorf("moved = %v, want %v (sorted)", got, want)
	}
	for key, want := range map[string]bool{"default/z": false, "default/b": false, "default/c": true} {
		if _, ok := a.Assignment(key); ok != want {
			t.Errorf("%s has an assignment: %v, want %v", key, ok, want)
		}
	}
	if u := a.Usage("a")[IPv4]; u.Assigned != 1 {
		t.Errorf("Usage = %+v, want 1 assigned", u)
	}
}
