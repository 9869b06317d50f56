// Package transcript reads the shell sessions a Markdown document shows
// in its "console" code blocks, so a test can run each command and check
// that what the document says it prints is what it prints.
//
// In a console block a line starting with "$ " is a command (a line
// ending in a backslash continues on the next one) and the lines after it,
// up to the next command, are what it prints. Those lines need not be all
// of the output: each must match an output line, in order, with other
// lines allowed between and around them. Runs of spaces match any run of
// white space, and "…" stands for any text within a line, for what
// differs from run to run (ages, addresses of the moment, counts).
package transcript

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
)

// Step is one command of a console block and the output the document
// shows for it.
type Step struct {
	// Line is where the command starts in the document (1-based).
	Line    int
	Command string
	// Want is the output lines the document shows, in order.
	Want []string
}

// Parse returns the steps of every console block of a Markdown document,
// in document order.
func Parse(doc string) ([]Step, error) {
	var steps []Step
	// blockLine is the line of the fence of the block being read, 0
	// outside console blocks; continued tells that the last command
	// ended in a backslash.
	blockLine, continued := 0, false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case blockLine == 0:
			if trimmed == "```console" {
				blockLine = n
			}
		case trimmed == "```":
			if continued {
				return nil, fmt.Errorf("line %d: the command of line %d continues past the end of its block", n, steps[len(steps)-1].Line)
			}
			blockLine = 0
		case continued:
			s := &steps[len(steps)-1]
			s.Command += "\n" + line
			continued = strings.HasSuffix(line, `\`)
		case strings.HasPrefix(line, "$ "):
			command := strings.TrimPrefix(line, "$ ")
			steps = append(steps, Step{Line: n, Command: command})
			continued = strings.HasSuffix(command, `\`)
		case trimmed == "":
		case len(steps) == 0 || steps[len(steps)-1].Line < blockLine:
			return nil, fmt.Errorf("line %d: output %q before any command of its block", n, line)
		default:
			s := &steps[len(steps)-1]
			s.Want = append(s.Want, line)
		}
	}
	if blockLine != 0 {
		return nil, fmt.Errorf("line %d: the console block is not closed", blockLine)
	}
	return steps, sc.Err()
}

// Match checks output against the lines a step wants. It returns the
// first wanted line that no later output line matches, and false; or ""
// and true when every wanted line matched.
func Match(want []string, output string) (string, bool) {
	lines := strings.Split(output, "\n")
	at := 0
	for _, w := range want {
		re := linePattern(w)
		found := false
		for at < len(lines) {
			l := lines[at]
			at++
			if re.MatchString(strings.TrimSpace(l)) {
				found = true
				break
			}
		}
		if !found {
			return w, false
		}
	}
	return "", true
}

// linePattern turns a wanted line into a regular expression for a whole
// output line: white space runs match any white space, "…" any text.
func linePattern(want string) *regexp.Regexp {
	parts := strings.Split(strings.TrimSpace(want), "…")
	for i, part := range parts {
		words := strings.Fields(part)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		parts[i] = strings.Join(words, `\s+`)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}
