package owner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// The values in this file were computed once and must never change: every
// node of a cluster, whatever bgplb version it runs, must compute the same
// tables from the same member set, or nodes forward a flow's packets to
// different owners. A failure here means the hash or the rule changed.
// The hashes follow the published definitions of FNV-1a and SplitMix64,
// so any other implementation of hash.go must reproduce them.

// goldenMembers holds every state, and names that sort differently from
// the order given.
var goldenMembers = []Member{
	{Node: "worker-7.example.com"},
	{Node: "node-a"},
	{Node: "node-c", State: Draining},
	{Node: "node-b"},
	{Node: "node-d", State: Joining},
}

func TestGoldenHashes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{name: `nodeHash("node-a")`, got: nodeHash("node-a"), want: 0x82995e46723a0e5f},
		{name: `nodeHash("")`, got: nodeHash(""), want: 0xf52a15e9a9b5e89b},
		{name: "bucketHash(0)", got: bucketHash(0), want: 0xe220a8397b1dcdaf},
		{name: "bucketHash(65520)", got: bucketHash(65520), want: 0x1af2beda3a8c6afa},
		{name: `score("node-a", 0)`, got: score(nodeHash("node-a"), bucketHash(0)), want: 0x70b9010d71088139},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#016x, want %#016x", tc.name, tc.got, tc.want)
		}
	}
}

func TestGoldenTable(t *testing.T) {
	t.Parallel()
	table := mustBuild(t, goldenMembers, DefaultSize)
	for _, tc := range []struct {
		bucket             int
		primary, secondary string
	}{
		{bucket: 0, primary: "node-b", secondary: "node-a"},
		{bucket: 1, primary: "node-a", secondary: "node-c"}, // Draining, ranked just below node-a
		{bucket: 2, primary: "node-a", secondary: "node-c"}, // Draining, ranked above node-a
		{bucket: 3, primary: "worker-7.example.com", secondary: "node-a"},
		{bucket: 1000, primary: "node-b", secondary: "worker-7.example.com"},
		{bucket: 65520, primary: "node-b", secondary: "node-c"},
	} {
		if p, s := table.Owner(tc.bucket); p != tc.primary || s != tc.secondary {
			t.Errorf("bucket %d: owners %q, %q, want %q, %q", tc.bucket, p, s, tc.primary, tc.secondary)
		}
	}
	const wantChecksum = "874473563a5f305ccc3e48f857c8e28069d4d9ab9616d41aae663636ad51d2d7"
	if got := checksum(table); got != wantChecksum {
		t.Errorf("the table of %v has checksum %s, want %s", goldenMembers, got, wantChecksum)
	}
}

// checksum is the SHA-256 of a table's node names, each followed by a
// newline, then of its buckets, each as primary and secondary id in two
// big-endian bytes.
func checksum(table Table) string {
	h := sha256.New()
	for _, node := range table.Nodes {
		h.Write([]byte(node + "\n"))
	}
	for _, o := range table.Buckets {
		h.Write(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, o.Primary), o.Secondary))
	}
	return hex.EncodeToString(h.Sum(nil))
}
