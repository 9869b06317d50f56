package owner

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestBuildRejectsBadInput(t *testing.T) {
	t.Parallel()
	three := []Member{{Node: "a"}, {Node: "b"}, {Node: "c"}}
	tests := []struct {
		name    string
		members []Member
		size    int
		want    []string // each must appear in the error
	}{
		{name: "size 0", members: three, size: 0, want: []string{"size 0 ", "not a prime in [2, 65535]"}},
		{name: "size 1", members: three, size: 1, want: []string{"size 1 ", "not a prime"}},
		{name: "a negative size", members: three, size: -7, want: []string{"size -7 ", "not a prime"}},
		{name: "a composite size", members: three, size: 4095, want: []string{"size 4095 ", "not a prime"}},
		{name: "a square of a prime", members: three, size: 251 * 251, want: []string{"size 63001 ", "not a prime"}},
		{name: "a prime past 16 bits", members: three, size: 65537, want: []string{"size 65537 ", "not a prime in [2, 65535]"}},
		{name: "a huge size", members: three, size: 1 << 62, want: []string{"not a prime in [2, 65535]"}},
		{name: "an empty name", members: []Member{{Node: "a"}, {Node: "", State: Draining}}, size: 7,
			want: []string{"member 1 ", "(state Draining)", "empty node name"}},
		{name: "a duplicate name", members: []Member{{Node: "a"}, {Node: "b"}, {Node: "a", State: Joining}}, size: 7,
			want: []string{`node "a" appears twice`}},
		{name: "an unknown state", members: []Member{{Node: "a", State: 9}}, size: 7,
			want: []string{`node "a" has unknown state State(9)`}},
		{name: "more nodes than 16 bits name", members: numberedMembers(maxNodes+1, Draining), size: 2,
			want: []string{"65536 Active and Draining nodes", "at most 65535"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table, err := Build(tc.members, tc.size)
			if err == nil {
				t.Fatalf("Build(..., %d) = %d buckets, want an error", tc.size, len(table.Buckets))
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Build(..., %d): error %q does not contain %q", tc.size, err, want)
				}
			}
			if table.Nodes != nil || table.Buckets != nil {
				t.Errorf("Build(..., %d) returned a table with its error: %d nodes, %d buckets", tc.size, len(table.Nodes), len(table.Buckets))
			}
		})
	}
}

func TestBuildAcceptsTheLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		members []Member
		size    int
	}{
		{name: "the smallest size", members: numberedMembers(3, Active), size: 2},
		{name: "the largest prime size", members: numberedMembers(3, Active), size: 65521},
		{name: "no members", members: nil, size: 7},
		{name: "as many nodes as 16 bits name", members: numberedMembers(maxNodes, Draining), size: 2},
		{name: "Joining nodes past the limit, which get no id",
			members: append(numberedMembers(maxNodes, Active), Member{Node: "joining", State: Joining}), size: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table, err := Build(tc.members, tc.size)
			if err != nil {
				t.Fatalf("Build(%d members, %d): %v", len(tc.members), tc.size, err)
			}
			if len(table.Buckets) != tc.size {
				t.Errorf("Build(%d members, %d) has %d buckets", len(tc.members), tc.size, len(table.Buckets))
			}
		})
	}
}

func numberedMembers(n int, state State) []Member {
	members := make([]Member, n)
	for i := range members {
		members[i] = Member{Node: fmt.Sprintf("node-%d", i+1), State: state}
	}
	return members
}

func TestOwnerAndID(t *testing.T) {
	t.Parallel()
	members := []Member{{Node: "a"}, {Node: "b", State: Draining}, {Node: "c", State: Joining}}
	table := mustBuild(t, members, 7)
	for b, o := range table.Buckets {
		primary, secondary := table.Owner(b)
		if table.ID(primary) != o.Primary || table.ID(secondary) != o.Secondary {
			t.Errorf("bucket %d: Owner = %q, %q; ID gives %d, %d; want %d, %d",
				b, primary, secondary, table.ID(primary), table.ID(secondary), o.Primary, o.Secondary)
		}
	}
	for _, node := range []string{"c", "d", ""} {
		if id := table.ID(node); id != 0 {
			t.Errorf("ID(%q) = %d, want 0: the table does not name it", node, id)
		}
	}
	for _, bucket := range []int{-1, 7, 1 << 20} {
		if p, s := table.Owner(bucket); p != "" || s != "" {
			t.Errorf("Owner(%d) of a 7-bucket table = %q, %q, want none", bucket, p, s)
		}
	}
	if p, s := (Table{}).Owner(0); p != "" || s != "" {
		t.Errorf("the zero Table's Owner(0) = %q, %q, want none", p, s)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	set := []Member{{Node: "b", State: Draining}, {Node: "a"}, {Node: "c", State: Joining}}
	reordered := []Member{{Node: "c", State: Joining}, {Node: "b", State: Draining}, {Node: "a"}}
	if Key(set) != Key(reordered) {
		t.Errorf("Key(%v) = %q and Key(%v) = %q: the same set in another order must have the same key", set, Key(set), reordered, Key(reordered))
	}
	others := [][]Member{
		{{Node: "b"}, {Node: "a"}, {Node: "c", State: Joining}},                               // another state
		{{Node: "b", State: Draining}, {Node: "a"}},                                           // a member fewer
		{{Node: "b", State: Draining}, {Node: "a"}, {Node: "c", State: Joining}, {Node: "d"}}, // a member more
		{{Node: "a=Active,b", State: Draining}, {Node: "c", State: Joining}},                  // a name that looks like two members
		nil,
	}
	for _, other := range others {
		if Key(other) == Key(set) {
			t.Errorf("Key(%v) = Key(%v) = %q, want different keys for different sets", other, set, Key(set))
		}
	}
	if !slices.Equal(set, []Member{{Node: "b", State: Draining}, {Node: "a"}, {Node: "c", State: Joining}}) {
		t.Errorf("Key reordered its argument: %v", set)
	}
}

func TestMoved(t *testing.T) {
	t.Parallel()
	ab := mustBuild(t, []Member{{Node: "a"}, {Node: "b"}}, 7)
	if n := Moved(ab, ab); n != 0 {
		t.Errorf("Moved(t, t) = %d, want 0", n)
	}
	onlyA := mustBuild(t, []Member{{Node: "a"}}, 7)
	want := 0
	for b := range ab.Buckets {
		if primary, _ := ab.Owner(b); primary == "b" {
			want++
		}
	}
	if n := Moved(ab, onlyA); n != want || want == 0 {
		t.Errorf("Moved(a and b, a alone) = %d, want the %d buckets b was primary of", n, want)
	}
	// Node ids differ between these tables (c sorts before d), but the
	// primaries are compared by name.
	acd := mustBuild(t, []Member{{Node: "a"}, {Node: "c", State: Draining}, {Node: "d"}}, 7)
	ad := mustBuild(t, []Member{{Node: "a"}, {Node: "d"}}, 7)
	if !slices.ContainsFunc(ad.Buckets, func(o Owners) bool { return o.Primary == ad.ID("d") }) {
		t.Fatal("d owns no bucket of 7, so this check checks nothing; pick other names")
	}
	if n := Moved(acd, ad); n != 0 {
		t.Errorf("Moved between tables that differ only in a Draining node = %d, want 0", n)
	}
	if n := Moved(ab, mustBuild(t, []Member{{Node: "a"}, {Node: "b"}}, 11)); n != 11 {
		t.Errorf("Moved between 7 and 11 buckets = %d, want 11", n)
	}
}
