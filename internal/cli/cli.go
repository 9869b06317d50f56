// Package cli implements bgplbctl's commands. The command main only hands
// over its arguments and standard streams, so tests run every command as a
// function and check its output and exit status.
//
// Commands form a tree (bgplbctl → ecmp → what-if); a new command is one
// more node, with its flags parsed by the standard flag package in its own
// action.
package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Exit statuses, following the usual convention of command-line tools: 2
// tells a script that it called the tool wrongly rather than that the
// tool failed.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Run runs bgplbctl with args (the arguments after the program name),
// writing results to stdout and diagnostics to stderr, and returns the exit
// status: 0 on success, 1 when a command fails, 2 when it is called
// wrongly (unknown command, bad flag or bad input).
func Run(args []string, stdout, stderr io.Writer) int {
	return RunAs("bgplbctl", args, stdout, stderr)
}

// RunAs is Run under another name in messages and help, such as
// "kubectl bgplb" for the kubectl plugin.
func RunAs(name string, args []string, stdout, stderr io.Writer) int {
	return root(name).run("", args, stdout, stderr)
}

func root(name string) *command {
	return &command{
		name:        name,
		summary:     name + " inspects and plans bgplb's BGP load balancing.",
		subcommands: []*command{statusCommand(), ecmpCommand(), versionCommand(name)},
	}
}

// command is a node of the command tree: a group of subcommands or, when
// action is set, a command that does something.
type command struct {
	name    string
	summary string
	// subcommands are the commands of a group, in the order help lists them.
	subcommands []*command
	// action runs the command on the arguments after its name; path is
	// the full command line up to the name, for messages.
	action func(path string, args []string, stdout, stderr io.Writer) int
}

func (c *command) run(parent string, args []string, stdout, stderr io.Writer) int {
	path := strings.TrimSpace(parent + " " + c.name)
	if c.action != nil {
		return c.action(path, args, stdout, stderr)
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: missing command\n\n", path)
		c.usage(path, stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		c.usage(path, stdout)
		return exitOK
	case "-version", "--version":
		// Only the root has a version command; a group further down
		// treats the flag as an unknown command.
		if version := c.find("version"); version != nil {
			return version.run(path, nil, stdout, stderr)
		}
	}
	if sub := c.find(args[0]); sub != nil {
		return sub.run(path, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", path, args[0])
	c.usage(path, stderr)
	return exitUsage
}

// find returns the subcommand with the name, or nil.
func (c *command) find(name string) *command {
	for _, sub := range c.subcommands {
		if sub.name == name {
			return sub
		}
	}
	return nil
}

func (c *command) usage(path string, w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage: %s <command> ...\n\nCommands:\n", c.summary, path)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, sub := range c.subcommands {
		fmt.Fprintf(tw, "  %s\t%s\n", sub.name, sub.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s <command> --help' for more about a command.\n", path)
}
