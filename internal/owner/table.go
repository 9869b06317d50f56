package owner

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultSize is the number of buckets of a table unless a caller needs
// another. It is the largest prime below 65536, so a bucket index fits 16
// bits like a node id does. Rendezvous hashing gives each bucket to each
// of N Active nodes independently with probability 1/N, so a node's share
// of buckets is off from 1/N by sqrt((N-1)/size) relative (one standard
// deviation): the largest size balances best. Measured with nodes named
// node-1 .. node-N, N = 2..16, the worst node's share was off from 1/N by
// 10.6% at size 4093, 5.1% at 16381 and 2.6% at 65521 (balance_test.go
// checks 4%); over 200 sets of random names for each N, by at most 3.3%
// for N up to 7 and 5.5% for N up to 16.
const DefaultSize = 65521

// maxSize and maxNodes follow from the 16-bit bucket indexes and node ids
// that the datapath's maps hold; node id 0 means none.
const (
	maxSize  = 1<<16 - 1
	maxNodes = 1<<16 - 1
)

// Member is a node that serves an address, and what it may do.
type Member struct {
	Node  string
	State State
}

// Owners are a bucket's owner nodes, each a 1-based index into
// Table.Nodes, 0 meaning none.
type Owners struct {
	Primary, Secondary uint16
}

// Table is the owner table of one member set: for each bucket, which node
// owns the bucket's flows (primary) and which node owned them before
// (secondary). The zero Table has no buckets.
type Table struct {
	// Nodes are the Active and Draining members, sorted and unique;
	// Owners index into it.
	Nodes   []string
	Buckets []Owners
}

// Build computes the owner table of a member set with size buckets. The
// table depends only on the set: the order of members does not matter,
// and every node computes the same table. See the package documentation
// for the rule.
func Build(members []Member, size int) (Table, error) {
	if size > maxSize || !isPrime(size) {
		return Table{}, fmt.Errorf("owner table size %d is not a prime in [2, %d]", size, maxSize)
	}
	if err := checkMembers(members); err != nil {
		return Table{}, err
	}
	nodes, active, draining := candidates(members)
	if len(nodes) > maxNodes {
		return Table{}, fmt.Errorf("%d Active and Draining nodes in one member set; an owner table names at most %d", len(nodes), maxNodes)
	}
	buckets := make([]Owners, size)
	for b := range buckets {
		buckets[b] = ownersOf(active, draining, bucketHash(b))
	}
	return Table{Nodes: nodes, Buckets: buckets}, nil
}

// Owner returns the names of a bucket's primary and secondary owners, ""
// for none, and for a bucket the table does not have.
func (t Table) Owner(bucket int) (primary, secondary string) {
	if bucket < 0 || bucket >= len(t.Buckets) {
		return "", ""
	}
	o := t.Buckets[bucket]
	return t.name(o.Primary), t.name(o.Secondary)
}

// ID returns the id by which the table's Owners name node, 0 if the table
// does not name it (a Joining node, or one that is not a member).
func (t Table) ID(node string) uint16 {
	i, found := slices.BinarySearch(t.Nodes, node)
	if !found {
		return 0
	}
	return uint16(i + 1)
}

func (t Table) name(id uint16) string {
	if id == 0 || int(id) > len(t.Nodes) {
		return ""
	}
	return t.Nodes[id-1]
}

// Key returns the canonical identity of a member set: two sets have the
// same key exactly when they hold the same nodes in the same states,
// whatever their order, so Services with the same set can share one table.
func Key(members []Member) string {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), cmp.Compare(a.State, b.State))
	})
	parts := make([]string, len(sorted))
	for i, m := range sorted {
		// Quoting keeps the key unambiguous whatever a name holds.
		parts[i] = strconv.Quote(m.Node) + "=" + m.State.String()
	}
	return strings.Join(parts, ",")
}

// Moved returns how many buckets have another primary node after than
// before, comparing nodes by name. Tables of different sizes hash flows to
// different buckets, so between them every bucket counts as moved.
func Moved(before, after Table) int {
	if len(before.Buckets) != len(after.Buckets) {
		return max(len(before.Buckets), len(after.Buckets))
	}
	moved := 0
	for b := range before.Buckets {
		if before.name(before.Buckets[b].Primary) != after.name(after.Buckets[b].Primary) {
			moved++
		}
	}
	return moved
}

// checkMembers rejects a member set that has no single meaning.
func checkMembers(members []Member) error {
	seen := make(map[string]bool, len(members))
	for i, m := range members {
		switch {
		case m.Node == "":
			return fmt.Errorf("member %d (state %s) has an empty node name", i, m.State)
		case !m.State.valid():
			return fmt.Errorf("node %q has unknown state %s", m.Node, m.State)
		case seen[m.Node]:
			return fmt.Errorf("node %q appears twice in the member set", m.Node)
		}
		seen[m.Node] = true
	}
	return nil
}

// candidate is a node that may appear in a table, with its precomputed
// hash and its id in Table.Nodes.
type candidate struct {
	hash uint64
	id   uint16
}

// candidates sorts the Active and Draining members by name, which gives
// their ids, and splits them by state; Joining members take no part.
func candidates(members []Member) (nodes []string, active, draining []candidate) {
	ranked := slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.State == Joining })
	slices.SortFunc(ranked, func(a, b Member) int { return strings.Compare(a.Node, b.Node) })
	nodes = make([]string, len(ranked))
	for i, m := range ranked {
		nodes[i] = m.Node
		// Ids past 16 bits wrap here, but Build rejects such sets.
		c := candidate{hash: nodeHash(m.Node), id: uint16(i + 1)}
		if m.State == Draining {
			draining = append(draining, c)
		} else {
			active = append(active, c)
		}
	}
	return nodes, active, draining
}

// rank is a candidate's place for one bucket. Higher scores rank higher;
// two nodes whose name hashes collide have equal scores in every bucket,
// and then the lower id (the name that sorts first) ranks higher.
type rank struct {
	score uint64
	id    uint16 // 0: no candidate
}

func (r rank) above(o rank) bool {
	return o.id == 0 || r.score > o.score || r.score == o.score && r.id < o.id
}

// ownersOf applies the rule of the package documentation to one bucket:
// the primary is the highest-ranked Active node; the secondary is the
// highest-ranked other node, Active or Draining.
func ownersOf(active, draining []candidate, bucket uint64) Owners {
	var first, second, drain rank
	for _, c := range active {
		r := rank{score: score(c.hash, bucket), id: c.id}
		if r.above(first) {
			first, second = r, first
		} else if r.above(second) {
			second = r
		}
	}
	for _, c := range draining {
		if r := (rank{score: score(c.hash, bucket), id: c.id}); r.above(drain) {
			drain = r
		}
	}
	if drain.id != 0 && drain.above(second) {
		second = drain
	}
	return Owners{Primary: first.id, Secondary: second.id}
}

// isPrime reports whether n is a prime, by trial division; Build calls it
// only for sizes below 2^16, so it divides at most 255 times.
func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
