package ecmp_test

import (
	"fmt"

	"github.com/bgplb/bgplb/internal/ecmp"
)

// Removing one of four equal next hops moves a quarter of the connections
// under every model, the removed node's; the models differ in how many of
// the others they move as well.
func ExampleWhatIf() {
	before, _ := ecmp.ParseNextHops("a,b,c,d")
	after, _ := ecmp.ApplyChange(before, "remove=d")
	for _, model := range ecmp.Models() {
		est, err := ecmp.WhatIf(model, before, after, ecmp.Options{})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-14s moved %3.0f%%, lost %3.0f%%, rehashed %3.0f%%\n", model, 100*est.Moved, 100*est.Lost, 100*est.Rehashed)
	}
	// Output:
	// modulo-n       moved  75%, lost  25%, rehashed  50%
	// hash-threshold moved  50%, lost  25%, rehashed  25%
	// resilient      moved  25%, lost  25%, rehashed   0%
}

// Which next hop the moved connections leave: under hash-threshold, the
// removed node's all go, and the regions of b and c shift.
func ExampleWhatIf_perNextHop() {
	before, _ := ecmp.ParseNextHops("a,b,c,d")
	after, _ := ecmp.ApplyChange(before, "remove=d")
	est, _ := ecmp.WhatIf(ecmp.HashThreshold, before, after, ecmp.Options{})
	for _, nh := range before {
		fmt.Printf("%s %.4f\n", nh.Name, est.PerNextHop[nh.Name])
	}
	// Output:
	// a 0.0000
	// b 0.0833
	// c 0.1667
	// d 0.2500
}

func ExampleApplyChange() {
	before, _ := ecmp.ParseNextHops("a,b:2,c")
	after, err := ecmp.ApplyChange(before, "remove=a,add=d:3@0,weight=c:2")
	fmt.Println(ecmp.FormatNextHops(after), err)
	_, err = ecmp.ApplyChange(before, "remove=x")
	fmt.Println(err)
	// Output:
	// d:3,b:2,c:2 <nil>
	// invalid change "remove=x": no next hop "x" in the set
}

func ExampleParseNextHops() {
	nhs, err := ecmp.ParseNextHops("node-a,node-b:3")
	fmt.Println(nhs, err)
	fmt.Println(ecmp.FormatNextHops(nhs))
	// Output:
	// [node-a node-b:3] <nil>
	// node-a,node-b:3
}
