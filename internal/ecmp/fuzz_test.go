package ecmp

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets below check the text forms bgplbctl ecmp what-if reads
// from its command line. Besides not panicking, each checks that what is
// accepted prints in a form that reads back the same, and that an error
// quotes what was wrong.

func FuzzParseModel(f *testing.F) {
	for _, m := range Models() {
		f.Add(string(m))
	}
	for _, s := range []string{"", "all", "Modulo-N", "modulo-n ", "maglev", "hash_threshold"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseModel(s)
		if err != nil {
			if m != "" || !strings.Contains(err.Error(), strconv.Quote(s)) || !strings.Contains(err.Error(), modelNames()) {
				t.Fatalf("ParseModel(%q) = %q, %v: want no model and an error quoting the input and listing the models", s, m, err)
			}
			return
		}
		if string(m) != s || !slices.Contains(Models(), m) {
			t.Fatalf("ParseModel(%q) = %q: want the model of that name", s, m)
		}
	})
}

// nextHopSeeds are next-hop lists for both targets below: names, IPv4
// and IPv6 addresses with and without weights, and broken forms.
var nextHopSeeds = []string{
	"a,b", "a:3,b:1,c", "10.0.0.1:2,10.0.0.2", "2001:db8::1,2001:db8::2:3", "[2001:db8::1]:4,[2001:db8::2]",
	" a:2 , b ", "fe80::1%eth0", "[fe80::1%eth0]:2", "[a:b]", "[a:b]:7", "::ffff:10.0.0.1", "a:4294967295",
	"", " ", "a,,b", "a:x", "a:0", "a:4294967296", "a,b,a:2", ":3", "[2001:db8::1:2", "[a]x", "a@1", "a=b",
	"[a\r]", "[\va]", "10.0.0.2,\xe9",
}

func FuzzParseNextHops(f *testing.F) {
	for _, s := range nextHopSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nhs, err := ParseNextHops(s)
		if err != nil {
			if nhs != nil {
				t.Fatalf("ParseNextHops(%q) = %v with error %v", s, nhs, err)
			}
			checkQuotesListOrItem(t, "ParseNextHops", s, err)
			return
		}
		if len(nhs) == 0 {
			t.Fatalf("ParseNextHops(%q) accepted an empty list", s)
		}
		if err := checkNames(nhs); err != nil {
			t.Fatalf("ParseNextHops(%q) = %v: %v", s, nhs, err)
		}
		// bgplbctl writes names into JSON, which holds only UTF-8 text.
		if i := slices.IndexFunc(nhs, func(nh NextHop) bool { return !utf8.ValidString(nh.Name) }); i >= 0 {
			t.Fatalf("ParseNextHops(%q) accepted the name %q, which is not UTF-8", s, nhs[i].Name)
		}
		checkNextHopsRoundTrip(t, nhs)
	})
}

func FuzzApplyChange(f *testing.F) {
	for _, change := range []string{
		"", "remove=b", "add=d", "add=d:3@0", "add=[2001:db8::9]:2@1", "weight=a:5", "weight=2001:db8::1:3",
		"remove=a,add=a:2@0", "remove=a,remove=b,remove=c", "add=a", "remove=z", "remove=a:2", "add=d@9",
		"add=d@-1", "add=d@+1", "weight=a", "weight=a:0", "move=a", "remove", "add=", "a,,b", "add=x@@1",
	} {
		f.Add("a:3,b,c", change)
	}
	f.Add("2001:db8::1,2001:db8::2", "weight=2001:db8::1:3,remove=2001:db8::2")
	f.Fuzz(func(t *testing.T, beforeText, change string) {
		before, err := ParseNextHops(beforeText)
		if err != nil {
			return
		}
		kept := slices.Clone(before)
		after, err := ApplyChange(before, change)
		if !slices.Equal(before, kept) {
			t.Fatalf("ApplyChange(%v, %q) changed its input to %v", kept, change, before)
		}
		if err != nil {
			if after != nil {
				t.Fatalf("ApplyChange(%v, %q) = %v with error %v", before, change, after, err)
			}
			checkQuotesListOrItem(t, "ApplyChange", change, err)
			return
		}
		if err := checkNames(after); err != nil {
			t.Fatalf("ApplyChange(%v, %q) = %v: %v", before, change, after, err)
		}
		if want := len(before) + countOps(change, "add=") - countOps(change, "remove="); len(after) != want {
			t.Fatalf("ApplyChange(%v, %q) = %v: %d next hops, want %d", before, change, after, len(after), want)
		}
		if len(after) > 0 {
			checkNextHopsRoundTrip(t, after)
		}
	})
}

// countOps counts the items of a change list that start with op.
func countOps(change, op string) int {
	n := 0
	for item := range strings.SplitSeq(change, ",") {
		if strings.HasPrefix(strings.TrimSpace(item), op) {
			n++
		}
	}
	return n
}

// checkNextHopsRoundTrip checks that FormatNextHops writes nhs in a form
// ParseNextHops reads back as the same next hops, and that writing them
// again gives the same text.
func checkNextHopsRoundTrip(t *testing.T, nhs []NextHop) {
	t.Helper()
	text := FormatNextHops(nhs)
	again, err := ParseNextHops(text)
	if err != nil {
		t.Fatalf("%q is written as %q, which does not parse: %v", nhs, text, err)
	}
	same := len(again) == len(nhs)
	for i := 0; same && i < len(nhs); i++ {
		same = again[i].Name == nhs[i].Name && again[i].weight() == nhs[i].weight()
	}
	if !same {
		t.Fatalf("%q is written as %q, which parses as %q", nhs, text, again)
	}
	if rewritten := FormatNextHops(again); rewritten != text {
		t.Fatalf("%q is written as %q, and read and written again as %q", nhs, text, rewritten)
	}
}

// checkQuotesListOrItem checks that an error about a comma-separated list
// quotes the list or one of its items, so that the user sees what is
// wrong. An empty list is named as such.
func checkQuotesListOrItem(t *testing.T, parser, list string, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(list) == "" && strings.Contains(msg, "empty") {
		return
	}
	if strings.Contains(msg, strconv.Quote(list)) {
		return
	}
	for item := range strings.SplitSeq(list, ",") {
		if strings.Contains(msg, strconv.Quote(strings.TrimSpace(item))) {
			return
		}
	}
	t.Fatalf("%s(%q): error %q quotes neither the input nor one of its items", parser, list, err)
}
