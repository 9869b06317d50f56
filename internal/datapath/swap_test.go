//go:build linux

package datapath

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// Tables are replaced while packets run. Under the old table this node is
// every bucket's primary and the secondary is node 2, 3 or 4 by bucket, so
// a packet conntrack does not know goes to that secondary at hop 2; under
// the new table the primary is node 5, 6 or 7 by bucket, reached at hop 1.
// A packet that saw part of each (the old primary with the new secondary
// 8, or a node of the wrong bucket) fails the test.
func TestTableReplacedWhilePacketsRunIsSeenWhole(t *testing.T) {
	const buckets = 251
	old, replacement := make([]Owners, buckets), make([]Owners, buckets)
	for b := range buckets {
		old[b] = Owners{Primary: 1, Secondary: NodeID(2 + b%3)}
		replacement[b] = Owners{Primary: NodeID(5 + b%3), Secondary: 8}
	}
	d := loadForTest(t, 1, buckets)
	setup(t, d, serviceV4, old)
	if err := d.SetService(serviceV6, 7); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var swapper sync.WaitGroup
	swapper.Go(func() {
		for {
			for _, table := range [][]Owners{replacement, old} {
				select {
				case <-stop:
					return
				default:
				}
				if err := d.SetTable(7, table); err != nil {
					t.Errorf("replace the table: %v", err)
					return
				}
			}
		}
	})
	defer swapper.Wait()
	defer close(stop)

	rng := rand.New(rand.NewPCG(251, 19))
	seen := map[string]int{}
	inNetns(t, newNetns(t, "node"), func() {
		before := readCounters(t, d)
		for packets := 0; packets < 400 || seen["old"] == 0 || seen["new"] == 0; packets++ {
			if packets == 20000 {
				t.Fatalf("20000 packets saw only %v: the tables were not replaced while packets ran", seen)
			}
			flow := randomFlow(rng, []netip.Addr{serviceV4, serviceV6})
			runUplink(t, d, flowPacket(flow))
			after := readCounters(t, d)
			node, hop := sentBy(t, before, after)
			before = after
			b := Bucket(flow, buckets)
			switch {
			case hop == 2 && node == old[b].Secondary:
				seen["old"]++
			case hop == 1 && node == replacement[b].Primary:
				seen["new"]++
			default:
				t.Fatalf("bucket %d: sent to node %d at hop %d, which neither the old table (node %d, hop 2) nor the new one (node %d, hop 1) says",
					b, node, hop, old[b].Secondary, replacement[b].Primary)
			}
		}
	})
	t.Logf("packets directed by the old table: %d, by the new one: %d", seen["old"], seen["new"])
}
