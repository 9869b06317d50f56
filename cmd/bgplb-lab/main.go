// Command bgplb-lab brings up a bgplb lab on this machine (network
// namespaces with an FRR, BIRD or GoBGP router, nodes running the speaker, a
// client, an API server and the controller) and takes it down again.
//
//	bgplb-lab up [-nodes 3] [-router frr|bird|gobgp] [-neighbours dynamic|static] [-ipv6=true]
//	eval "$(bgplb-lab env)"
//	bgplb-lab down
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bgplb/bgplb/test/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	opts := lab.SessionOptions{}
	flags.IntVar(&opts.Nodes, "nodes", 3, "number of nodes")
	flags.StringVar(&opts.Router, "router", "frr", "router: frr, bird or gobgp")
	// Most users' routers accept the nodes as dynamic neighbours, so the
	// lab's does too unless asked.
	flags.StringVar(&opts.Neighbours, "neighbours", lab.DynamicNeighbours, "how the router knows the nodes: "+lab.DynamicNeighbours+" (a listen range) or "+lab.StaticNeighbours+" (one neighbour per node)")
	flags.BoolVar(&opts.IPv6, "ipv6", true, "give the sample Service an IPv6 address too")
	flags.StringVar(&opts.Samples, "samples", "config/samples", "folder of sample objects to apply")
	_ = flags.Parse(os.Args[2:])

	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	opts.BinDir = filepath.Dir(self)
	if opts.Samples, err = filepath.Abs(opts.Samples); err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "up":
		if opts.Nodes < 1 || opts.Nodes > 8 {
			fail(fmt.Errorf("-nodes %d: want 1 to 8", opts.Nodes))
		}
		if opts.Router != "frr" && opts.Router != "bird" && opts.Router != "gobgp" {
			fail(fmt.Errorf("-router %q: want frr, bird or gobgp", opts.Router))
		}
		if opts.Neighbours != lab.DynamicNeighbours && opts.Neighbours != lab.StaticNeighbours {
			fail(fmt.Errorf("-neighbours %q: want %s or %s", opts.Neighbours, lab.DynamicNeighbours, lab.StaticNeighbours))
		}
		serve := []string{self, "serve", "-nodes", fmt.Sprint(opts.Nodes), "-router", opts.Router, "-neighbours", opts.Neighbours,
			fmt.Sprintf("-ipv6=%t", opts.IPv6), "-samples", opts.Samples}
		summary, err := lab.Up(opts, serve)
		if err != nil {
			fail(err)
		}
		fmt.Print(summary)
	case "serve":
		if err := lab.Serve(opts); err != nil {
			fail(err)
		}
	case "env":
		env, err := lab.Env()
		if err != nil {
			fail(err)
		}
		fmt.Print(env)
	case "down":
		msg, err := lab.Down()
		if err != nil {
			fail(err)
		}
		fmt.Println(msg)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bgplb-lab up [-nodes N] [-router frr|bird|gobgp] [-neighbours dynamic|static] [-ipv6=true|false] | env | down")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bgplb-lab:", err)
	os.Exit(1)
}
