package owner

import (
	"strconv"
	"strings"
	"testing"
)

func TestStateNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		state State
		name  string
	}{{Active, "Active"}, {Draining, "Draining"}, {Joining, "Joining"}, {State(3), "State(3)"}, {State(255), "State(255)"}} {
		if got := tc.state.String(); got != tc.name {
			t.Errorf("State(%d).String() = %q, want %q", uint8(tc.state), got, tc.name)
		}
	}
	var zero Member
	if zero.State != Active {
		t.Errorf("a Member's zero state is %s, want Active", zero.State)
	}
}

// FuzzParseState checks that ParseState reads exactly what String writes
// for the three states, and that an error quotes its input and says what
// is accepted.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{"Active", "Draining", "Joining", "", "active", "DRAINING", " Joining", "State(3)", "Joined"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		state, err := ParseState(s)
		if err != nil {
			if state != Active || !strings.Contains(err.Error(), strconv.Quote(s)) || !strings.Contains(err.Error(), "Active, Draining or Joining") {
				t.Fatalf("ParseState(%q) = %s, %v: want Active and an error quoting the input and naming the states", s, state, err)
			}
			return
		}
		if !state.valid() || state.String() != s {
			t.Fatalf("ParseState(%q) = %s, which writes as %q", s, state, state.String())
		}
	})
}
