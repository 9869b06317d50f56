// Package transcript reads the shell sessions a Markdown document shows
// in its "console" code blocks, so a test can run each command and check
// that what the document says it prints is what it prints.
//
// In a console block a line starting with "$ " is a command (a line
// ending in a backslash continues on the next one) and the lines after it,
// up to the next command, are what it prints, line for line. A line that
// is only "…" stands for any number of lines, for output the document
// leaves out; within a line, "…" stands for any text, for what differs
// from run to run (ages, counts, the order of equal things). Runs of
// spaces match any run of white space, and blank lines are ignored on
// both sides.
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

// Match checks output against the lines a step wants. It returns "" and
// true when the output matches them; otherwise false and the first wanted
// line that the output did not match.
func Match(want []string, output string) (string, bool) {
	var lines []string
	for _, l := range strings.Split(output, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	patterns := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		if !isElision(w) {
			patterns[i] = linePattern(w)
		}
	}
	// matched[i][j] memoizes whether want[i:] matches lines[j:]; deepest
	// is the furthest wanted line any attempt reached, to report.
	matched := map[[2]int]bool{}
	deepest := 0
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if v, ok := matched[[2]int{i, j}]; ok {
			return v
		}
		deepest = max(deepest, i)
		var ok bool
		switch {
		case i == len(want):
			ok = j == len(lines)
		case patterns[i] == nil:
			// An elision takes no line, or one more line.
			ok = match(i+1, j) || (j < len(lines) && match(i, j+1))
		default:
			ok = j < len(lines) && patterns[i].MatchString(lines[j]) && match(i+1, j+1)
		}
		matched[[2]int{i, j}] = ok
		return ok
	}
	if match(0, 0) {
		return "", true
	}
	if deepest == len(want) {
		return "(the end of the output: it goes on)", false
	}
	return want[deepest], false
}

// isElision tells whether a wanted line stands for any number of lines.
func isElision(w string) bool { return strings.TrimSpace(w) == "…" }

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
