package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bgplb/bgplb/internal/version"
)

// versionCommand prints the build's version line. program is the name the
// tool runs under; "kubectl bgplb" is reported as its binary,
// kubectl-bgplb, so that the line names the file that was run.
func versionCommand(program string) *command {
	binary := strings.ReplaceAll(program, " ", "-")
	return &command{
		name:    "version",
		summary: "Print the version of this build.",
		action: func(path string, args []string, stdout, stderr io.Writer) int {
			fs := flag.NewFlagSet(path, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			if err := fs.Parse(args); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					fmt.Fprintf(stdout, "Usage: %s\n\nPrints the version, source revision and Go version of this build.\n", path)
					return exitOK
				}
				return usageError(stderr, path, err)
			}
			if fs.NArg() > 0 {
				return usageError(stderr, path, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
			}
			fmt.Fprintln(stdout, version.Get().Line(binary))
			return exitOK
		},
	}
}
