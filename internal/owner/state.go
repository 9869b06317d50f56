package owner

import (
	"fmt"
	"strconv"
)

// State is what a member node may do in an owner table.
type State uint8

const (
	// Active nodes own buckets: each bucket's primary is an Active node.
	// It is the zero value, so a Member literal without a state is a
	// serving node.
	Active State = iota
	// Draining nodes own no new flows but keep the flows they have: a
	// Draining node is the secondary of the buckets it would own if it
	// were Active, so packets of its old connections still reach it.
	Draining
	// Joining nodes forward packets to owners but own nothing and are
	// never a secondary; they appear nowhere in a table.
	Joining
)

var stateNames = [...]string{Active: "Active", Draining: "Draining", Joining: "Joining"}

// String returns the state's name as ParseState reads it, or State(n) for
// a value that is none of the three.
func (s State) String() string {
	if s.valid() {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

func (s State) valid() bool { return int(s) < len(stateNames) }

// ParseState reads a state's name, exactly as String writes it.
func ParseState(s string) (State, error) {
	for state, name := range stateNames {
		if s == name {
			return State(state), nil
		}
	}
	return Active, fmt.Errorf("unknown node state %q: want Active, Draining or Joining", s)
}
