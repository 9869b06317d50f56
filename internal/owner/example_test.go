package owner_test

import (
	"fmt"

	"github.com/bgplb/bgplb/internal/owner"
)

// A drain: node-b of three nodes starts draining. Only the buckets node-b
// owned get a new primary, and each of them keeps node-b as secondary, so
// packets of node-b's open connections still reach it.
func Example_drain() {
	before, err := owner.Build([]owner.Member{{Node: "node-a"}, {Node: "node-b"}, {Node: "node-c"}}, owner.DefaultSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	after, err := owner.Build([]owner.Member{
		{Node: "node-a"}, {Node: "node-b", State: owner.Draining}, {Node: "node-c"},
	}, owner.DefaultSize)
	if err != nil {
		fmt.Println(err)
		return
	}

	ownedByB, rememberB := 0, 0
	for bucket := range after.Buckets {
		oldPrimary, _ := before.Owner(bucket)
		newPrimary, secondary := after.Owner(bucket)
		if oldPrimary == "node-b" {
			ownedByB++
		}
		if newPrimary != oldPrimary && secondary == "node-b" {
			rememberB++
		}
	}
	fmt.Printf("node-b owned %d of %d buckets\n", ownedByB, owner.DefaultSize)
	fmt.Printf("%d buckets moved, %d of them remember node-b\n", owner.Moved(before, after), rememberB)
	oldPrimary, _ := before.Owner(0)
	newPrimary, secondary := after.Owner(0)
	fmt.Printf("bucket 0: primary %s, then %s with secondary %s\n", oldPrimary, newPrimary, secondary)
	// Output:
	// node-b owned 21825 of 65521 buckets
	// 21825 buckets moved, 21825 of them remember node-b
	// bucket 0: primary node-b, then node-a with secondary node-b
}

// Services whose addresses are served by the same nodes in the same states
// share one table; Key names the set whatever the order.
func ExampleKey() {
	one := []owner.Member{{Node: "node-b", State: owner.Draining}, {Node: "node-a"}}
	other := []owner.Member{{Node: "node-a"}, {Node: "node-b", State: owner.Draining}}
	fmt.Println(owner.Key(one))
	fmt.Println(owner.Key(one) == owner.Key(other))
	// Output:
	// "node-a"=Active,"node-b"=Draining
	// true
}
