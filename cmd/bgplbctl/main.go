// Command bgplbctl inspects and plans bgplb's BGP load balancing: the
// state of every node's sessions and announcements, and how many existing
// connections a change of next hops would move:
//
//	bgplbctl status
//	bgplbctl ecmp what-if --nexthops 10.0.0.1,10.0.0.2,10.0.0.3 --change remove=10.0.0.2
//
// Installed as kubectl-bgplb, the same commands run as kubectl bgplb.
//
// Run bgplbctl --help for its commands.
package main

import (
	"os"

	"github.com/bgplb/bgplb/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
