package ecmp

import (
	"slices"
	"strings"
	"testing"
)

func TestParseNextHops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []NextHop
	}{
		{name: "names without weights get weight 0, which means 1", in: "a,b",
			want: []NextHop{{Name: "a"}, {Name: "b"}}},
		{name: "a weight follows a colon", in: "a:3,b:1,c",
			want: []NextHop{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}, {Name: "c"}}},
		{name: "IPv4 addresses take weights", in: "10.0.0.1:2,10.0.0.2",
			want: []NextHop{{Name: "10.0.0.1", Weight: 2}, {Name: "10.0.0.2"}}},
		{name: "a bare IPv6 address is a name without weight", in: "2001:db8::1,2001:db8::2:3",
			want: []NextHop{{Name: "2001:db8::1"}, {Name: "2001:db8::2:3"}}},
		{name: "a bracketed IPv6 address takes a weight", in: "[2001:db8::1]:4,[2001:db8::2]",
			want: []NextHop{{Name: "2001:db8::1", Weight: 4}, {Name: "2001:db8::2"}}},
		{name: "spaces around items are ignored", in: " a:2 , b ",
			want: []NextHop{{Name: "a", Weight: 2}, {Name: "b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNextHops(tc.in)
			if err != nil {
				t.Fatalf("ParseNextHops(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseNextHops(%q) = %v, want %v", tc.in, got, tc.want)
			}
			// What FormatNextHops writes reads back the same, weight 1
			// and weight 0 being the same weight.
			again, err := ParseNextHops(FormatNextHops(got))
			if err != nil {
				t.Fatalf("ParseNextHops(FormatNextHops(...) = %q): %v", FormatNextHops(got), err)
			}
			for i := range got {
				if again[i].Name != got[i].Name || again[i].weight() != got[i].weight() {
					t.Errorf("%q read back as %v, want %v", FormatNextHops(got), again, got)
				}
			}
		})
	}
}

func TestParseNextHopsRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "an empty list", in: "", want: []string{"empty next-hop list"}},
		{name: "an empty item", in: "a,,b", want: []string{`"a,,b"`, "empty item"}},
		{name: "a weight that is not a number", in: "a:x", want: []string{`"a:x"`, `weight "x"`}},
		{name: "a zero weight", in: "a:0", want: []string{`"a:0"`, `weight "0"`}},
		{name: "a weight beyond 32 bits", in: "a:4294967296", want: []string{`"4294967296"`}},
		{name: "a name used twice", in: "a,b,a:2", want: []string{`"a"`, "twice"}},
		{name: "an empty name", in: ":3", want: []string{`":3"`, "empty next-hop name"}},
		{name: "an unclosed bracket", in: "[2001:db8::1:2", want: []string{`"[2001:db8::1:2"`, `"]"`}},
		{name: "a name with a reserved character", in: "a@1", want: []string{`"a@1"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNextHops(tc.in)
			if err == nil {
				t.Fatalf("ParseNextHops(%q) = %v, want an error", tc.in, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestApplyChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, before, change, want string
	}{
		{name: "removing a next hop", before: "a,b,c", change: "remove=b", want: "a,c"},
		{name: "adding a next hop appends it", before: "a,b", change: "add=c", want: "a,b,c"},
		{name: "adding with a weight and a position", before: "a,b", change: "add=c:3@0", want: "c:3,a,b"},
		{name: "adding at the end position", before: "a,b", change: "add=c@2", want: "a,b,c"},
		{name: "reweighting a next hop", before: "a,b", change: "weight=b:5", want: "a,b:5"},
		{name: "changes apply in order", before: "a,b,c", change: "remove=a, add=a@2, weight=c:2", want: "b,c:2,a"},
		{name: "an empty change changes nothing", before: "a:2,b", change: "", want: "a:2,b"},
		{name: "removing every next hop leaves an empty set", before: "a,b", change: "remove=a,remove=b", want: ""},
		{name: "IPv6 next hops without brackets", before: "2001:db8::1,2001:db8::2", change: "remove=2001:db8::1,add=2001:db8::3", want: "2001:db8::2,2001:db8::3"},
		{name: "IPv6 next hops with brackets and weights", before: "2001:db8::1", change: "add=[2001:db8::2]:3@0,weight=2001:db8::1:4", want: "[2001:db8::2]:3,[2001:db8::1]:4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := set(t, tc.before)
			kept := slices.Clone(before)
			got, err := ApplyChange(before, tc.change)
			if err != nil {
				t.Fatalf("ApplyChange(%q, %q): %v", tc.before, tc.change, err)
			}
			if FormatNextHops(got) != tc.want {
				t.Errorf("ApplyChange(%q, %q) = %q, want %q", tc.before, tc.change, FormatNextHops(got), tc.want)
			}
			if !slices.Equal(before, kept) {
				t.Errorf("ApplyChange changed its input to %v", before)
			}
		})
	}
}

func TestApplyChangeRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, before, change string
		want                 []string
	}{
		{name: "an add without name", before: "a", change: "add=", want: []string{`invalid change "add="`, "empty next-hop name"}},
		{name: "an unknown operation", before: "a", change: "drop=a", want: []string{`"drop=a"`, `unknown change "drop"`, "remove=NAME"}},
		{name: "an item without equals sign", before: "a", change: "a", want: []string{`invalid change "a"`, "add=NAME"}},
		{name: "removing a next hop not in the set", before: "a", change: "remove=b", want: []string{`"remove=b"`, `no next hop "b"`}},
		{name: "removing with a weight", before: "a", change: "remove=a:2", want: []string{`"remove=a:2"`, "without weight"}},
		{name: "adding a next hop already in the set", before: "a", change: "add=a", want: []string{`"add=a"`, "already"}},
		{name: "adding at a position past the end", before: "a", change: "add=b@2", want: []string{`"add=b@2"`, `position "2"`, "0 to 1"}},
		{name: "adding at a position that is not a number", before: "a", change: "add=b@x", want: []string{`position "x"`}},
		{name: "a reweight without weight", before: "a", change: "weight=a", want: []string{`"weight=a"`, "missing weight"}},
		{name: "a reweight to zero", before: "a", change: "weight=a:0", want: []string{`weight "0"`}},
		{name: "a reweight of a next hop not in the set", before: "a", change: "weight=b:2", want: []string{`no next hop "b"`}},
		{name: "an empty item in the list", before: "a", change: "remove=a,", want: []string{`"remove=a,"`, "empty item"}},
		{name: "a later item that fails is quoted", before: "a,b", change: "remove=a,remove=a", want: []string{`invalid change "remove=a"`, `no next hop "a"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyChange(set(t, tc.before), tc.change)
			if err == nil {
				t.Fatalf("ApplyChange(%q, %q) = %v, want an error", tc.before, tc.change, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestApplyChangeRefusesADuplicateInTheBeforeSet(t *testing.T) {
	t.Parallel()
	_, err := ApplyChange([]NextHop{{Name: "a"}, {Name: "a"}}, "add=b")
	if err == nil || !strings.Contains(err.Error(), `duplicate next hop "a"`) {
		t.Errorf("ApplyChange error = %v, want one about the duplicate", err)
	}
}
