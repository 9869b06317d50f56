package main

import (
	"io"
	"strings"
	"testing"
)

// TestBadArgumentsAreQuoted checks that each refusal names the input it
// refuses, before anything is compiled or pushed.
func TestBadArgumentsAreQuoted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"publish"}, `"publish"`},
		{[]string{"build", "-source-date-epoch", "yesterday"}, `"yesterday"`},
		{[]string{"build", "-source-date-epoch", "1", "-platforms", "linux"}, `"linux"`},
		{[]string{"build", "extra"}, `"extra"`},
		{[]string{"push"}, "-registry is required"},
	} {
		err := run(t.Context(), tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("images %s: error %v, want one containing %s", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
