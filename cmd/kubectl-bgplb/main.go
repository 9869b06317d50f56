// Command kubectl-bgplb is bgplbctl as a kubectl plugin: with the binary on
// the PATH, kubectl runs it for "kubectl bgplb", as in
//
//	kubectl bgplb status
//
// Run kubectl bgplb --help for its commands.
package main

import (
	"os"

	"github.com/bgplb/bgplb/internal/cli"
)

func main() {
	os.Exit(cli.RunAs("kubectl bgplb", os.Args[1:], os.Stdout, os.Stderr))
}
