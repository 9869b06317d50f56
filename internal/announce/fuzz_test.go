package announce

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below check the parsers of what operators write in a
// BGPAdvertisement. Besides not panicking, each checks that an accepted
// value prints in a form that parses back to the same value, that an error
// quotes the input, and that the parser agrees with the API server's
// validation of the same field (api/v1alpha1), so that nothing the API
// server admits is refused later by the speaker.

// The patterns of the BGPAdvertisement CRD's community rule.
var (
	apiStandardCommunity = regexp.MustCompile(`^[0-9]{1,5}:[0-9]{1,5}$`)
	apiLargeCommunity    = regexp.MustCompile(`^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$`)
)

// apiAcceptsCommunity is the BGPAdvertisement CRD's validation rule for a
// community (the XValidation rule of v1alpha1.Community), written in Go.
func apiAcceptsCommunity(s string) bool {
	if len(s) > 32 {
		return false
	}
	switch s {
	case "no-export", "no-advertise", "no-export-subconfed", "no-peer":
		return true
	}
	fieldsWithin := func(limit uint64) bool {
		for p := range strings.SplitSeq(s, ":") {
			if n, err := strconv.ParseUint(p, 10, 64); err != nil || n > limit {
				return false
			}
		}
		return true
	}
	if apiStandardCommunity.MatchString(s) {
		return fieldsWithin(65535)
	}
	if apiLargeCommunity.MatchString(s) {
		return fieldsWithin(4294967295)
	}
	return false
}

func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{
		"65000:100", "0:0", "65535:65535", "65536:1", "1:65536", "00065:1",
		"4200000000:1:2", "4294967295:4294967295:4294967295", "4294967296:0:0",
		"no-export", "no-advertise", "no-export-subconfed", "no-peer", "NO-EXPORT", "no-export ",
		" 65000:100", "+1:2", "-1:2", "1:2:3:4", "", ":", "::", "1::2", "0x10:1", "1_000:2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		std, large, err := ParseCommunity(s)
		if err != nil {
			checkCommunityRefusal(t, s, std, large, err)
			return
		}
		if (std == nil) == (large == nil) {
			t.Fatalf("ParseCommunity(%q) = %v, %v: want exactly one community", s, std, large)
		}
		// Only the well-known names hold a letter or a '-'; numbers come
		// without spaces or signs.
		if _, named := wellKnown[s]; !named && strings.ContainsFunc(s, func(r rune) bool { return r != ':' && (r < '0' || r > '9') }) {
			t.Fatalf("ParseCommunity(%q) accepted something other than digits and colons", s)
		}
		var printed string
		if std != nil {
			printed = std.String()
		} else {
			printed = large.String()
		}
		againStd, againLarge, err := ParseCommunity(printed)
		switch {
		case err != nil:
			t.Fatalf("ParseCommunity(%q) printed as %q, which does not parse: %v", s, printed, err)
		case std != nil && (againStd == nil || *againStd != *std):
			t.Fatalf("ParseCommunity(%q) = %v printed as %q, which parses as %v, %v", s, *std, printed, againStd, againLarge)
		case large != nil && (againLarge == nil || *againLarge != *large):
			t.Fatalf("ParseCommunity(%q) = %v printed as %q, which parses as %v, %v", s, *large, printed, againStd, againLarge)
		}
		// What bgplb prints (in status, for example) can be written back
		// into a BGPAdvertisement.
		if !apiAcceptsCommunity(printed) {
			t.Fatalf("ParseCommunity(%q) printed as %q, which the API server refuses", s, printed)
		}
	})
}

func checkCommunityRefusal(t *testing.T, s string, std *Community, large *LargeCommunity, err error) {
	t.Helper()
	if std != nil || large != nil {
		t.Fatalf("ParseCommunity(%q) returned %v, %v with error %v", s, std, large, err)
	}
	if !errors.Is(err, ErrInvalidCommunity) {
		t.Fatalf("ParseCommunity(%q): error %v does not wrap ErrInvalidCommunity", s, err)
	}
	if !strings.HasPrefix(err.Error(), "community "+strconv.Quote(s)+": ") {
		t.Fatalf("ParseCommunity(%q): error %q does not start by quoting the input", s, err)
	}
	if apiAcceptsCommunity(s) {
		t.Fatalf("ParseCommunity(%q) refuses what the API server accepts: %v", s, err)
	}
}

// apiClock is the pattern the BGPAdvertisement CRD gives a change window's
// start and end (v1alpha1.ChangeWindow).
var apiClock = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func FuzzParseWindow(f *testing.F) {
	for _, w := range [][3]string{
		{"02:00", "04:00", ""}, {"22:00", "02:00", "Europe/Berlin"}, {"23:59", "00:00", "UTC"},
		{"00:00", "23:59", "America/New_York"}, {"02:30", "03:30", "Australia/Lord_Howe"},
		{"02:00", "02:00", ""}, {"2:00", "04:00", ""}, {"02:00", "24:00", ""}, {"02:60", "04:00", ""},
		{"+1:00", "02:00", ""}, {" 1:00", "02:00", ""}, {"01:5 ", "02:00", ""}, {"01:-0", "02:00", ""},
		{"02:00", "04:00", "Mars/Olympus_Mons"}, {"02:00", "04:00", "utc"}, {"02:00", "04:00", "../etc/passwd"},
		{"02:00", "04:00", "/etc/localtime"}, {"", "", ""},
	} {
		f.Add(w[0], w[1], w[2])
	}
	f.Fuzz(func(t *testing.T, start, end, zone string) {
		w, err := ParseWindow(start, end, zone)
		if err != nil {
			checkWindowRefusal(t, start, end, zone, err)
			return
		}
		for _, clock := range []string{start, end} {
			if !apiClock.MatchString(clock) {
				t.Fatalf("ParseWindow(%q, %q, %q) accepted %q, which is not HH:MM", start, end, zone, clock)
			}
		}
		for _, d := range []time.Duration{w.Start, w.End} {
			if d < 0 || d >= 24*time.Hour || d%time.Minute != 0 {
				t.Fatalf("ParseWindow(%q, %q, %q) = %v: %v is no minute of a day", start, end, zone, w, d)
			}
		}
		if w.Start == w.End || w.Location == nil {
			t.Fatalf("ParseWindow(%q, %q, %q) = %+v: an empty window or no time zone", start, end, zone, w)
		}
		checkWindowRoundTrip(t, w)
	})
}

// checkWindowRoundTrip checks that the window prints as "start-end zone"
// and that those parts parse back to the same window.
func checkWindowRoundTrip(t *testing.T, w Window) {
	t.Helper()
	printed := w.String()
	clocks, zone, ok := strings.Cut(printed, " ")
	start, end, ok2 := strings.Cut(clocks, "-")
	if !ok || !ok2 {
		t.Fatalf("window %+v prints as %q, not as start-end zone", w, printed)
	}
	again, err := ParseWindow(start, end, zone)
	if err != nil {
		t.Fatalf("window %+v prints as %q, which does not parse: %v", w, printed, err)
	}
	if again.Start != w.Start || again.End != w.End || again.Location.String() != w.Location.String() {
		t.Fatalf("window %+v prints as %q, which parses as %+v", w, printed, again)
	}
}

// checkWindowRefusal checks that a refused window was refused for a reason
// the error names, quoting the part that is wrong. The part is found with
// the API server's pattern, so a time of day the parser refuses although
// the pattern accepts it fails the check too.
func checkWindowRefusal(t *testing.T, start, end, zone string, err error) {
	t.Helper()
	var bad string
	switch {
	case !apiClock.MatchString(start):
		bad = start
	case !apiClock.MatchString(end):
		bad = end
	case start == end:
		bad = start + "-" + end
	default:
		bad = zone
	}
	if !strings.Contains(err.Error(), strconv.Quote(bad)) {
		t.Fatalf("ParseWindow(%q, %q, %q): error %q does not quote %q", start, end, zone, err, bad)
	}
}
