package announce

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func mustWindow(t *testing.T, start, end, zone string) Window {
	t.Helper()
	w, err := ParseWindow(start, end, zone)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// holdFixture holds what the hold cases are made of. t0 is 03:04:05 UTC.
type holdFixture struct {
	// web is a Service another node announces already.
	web Service
	// delayed holds for ten minutes, inEvening until 22:00, atNight
	// until 02:00 (it is open at t0); plain does not hold.
	delayed, inEvening, atNight, plain Advertisement
	// night is the window of atNight.
	night Window
}

func newHoldFixture(t *testing.T) holdFixture {
	t.Helper()
	night := mustWindow(t, "02:00", "04:00", "UTC")
	evening := mustWindow(t, "22:00", "23:00", "UTC")
	return holdFixture{
		web:       elsewhere(svc("web", "blue", "203.0.113.10")),
		delayed:   Advertisement{Name: "delayed", AdditionHold: &Hold{MinDelay: 10 * time.Minute}},
		inEvening: Advertisement{Name: "evening", AdditionHold: &Hold{Windows: []Window{evening}}},
		atNight:   Advertisement{Name: "night", AdditionHold: &Hold{Windows: []Window{night}}},
		plain:     Advertisement{Name: "plain"},
		night:     night,
	}
}

// elsewhere returns s announced by another node already.
func elsewhere(s Service) Service {
	s.AnnouncedElsewhere = true
	return s
}

// at returns in computed at now.
func at(in Input, now time.Time) Input {
	in.Now = now
	return in
}

// holdCase is one case of a hold: whether the Service default/web is
// announced and, if not, until when it is held.
type holdCase struct {
	name      string
	in        Input
	announced bool
	until     time.Time // when held
}

// runHoldCases runs each case as a parallel subtest.
func runHoldCases(t *testing.T, tests []holdCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := Compute(tt.in)
			if len(res.Errors) != 0 {
				t.Fatalf("errors: %v", res.Errors)
			}
			sent := len(res.Sessions["ebgp"]) > 0
			if sent != tt.announced {
				t.Errorf("announced = %v, want %v (paths %v)", sent, tt.announced, res.Sessions["ebgp"])
			}
			if got := slices.Contains(res.Announced, "default/web"); got != tt.announced {
				t.Errorf("Announced = %v, want web listed: %v", res.Announced, tt.announced)
			}
			if tt.announced {
				if len(res.Held) != 0 {
					t.Errorf("Held = %v, want none", res.Held)
				}
				return
			}
			if len(res.Held) != 1 || res.Held[0].Service != "default/web" || !res.Held[0].Until.Equal(tt.until) {
				t.Fatalf("Held = %+v, want default/web until %s", res.Held, tt.until)
			}
			if !res.NextChange.Equal(tt.until) {
				t.Errorf("NextChange = %s, want the end of the hold %s", res.NextChange, tt.until)
			}
		})
	}
}

// TestHoldWaitsForTheMinimumDelay checks that a node that would join the next hops of a
// Service other nodes announce waits for the minimum delay, counted from
// when it could first announce.
func TestHoldWaitsForTheMinimumDelay(t *testing.T) {
	t.Parallel()
	f := newHoldFixture(t)
	web, delayed := f.web, f.delayed
	runHoldCases(t, []holdCase{
		{
			name:      "a Service no other node announces is never held: its first next hop goes out at once",
			in:        at(input([]Service{svc("web", "blue", "203.0.113.10")}, delayed), t0),
			announced: true,
		},
		{
			name:  "a node joining the next hops waits for the minimum delay",
			in:    at(input([]Service{web}, delayed), t0),
			until: t0.Add(10 * time.Minute),
		},
		{
			name: "the delay counts from when the node could first announce",
			in: with(at(input([]Service{web}, delayed), t0), func(in *Input) {
				in.HeldSince = map[string]time.Time{web.Key: t0.Add(-9 * time.Minute)}
			}),
			until: t0.Add(time.Minute),
		},
		{
			name: "after the delay the node announces",
			in: with(at(input([]Service{web}, delayed), t0), func(in *Input) {
				in.HeldSince = map[string]time.Time{web.Key: t0.Add(-10 * time.Minute)}
			}),
			announced: true,
		},
	})
}

// TestHoldWaitsForAWindow checks that a held addition waits for one of its windows, after
// the minimum delay.
func TestHoldWaitsForAWindow(t *testing.T) {
	t.Parallel()
	f := newHoldFixture(t)
	web, inEvening, atNight, night := f.web, f.inEvening, f.atNight, f.night
	runHoldCases(t, []holdCase{
		{
			name:  "outside its window an addition waits for the window to open",
			in:    at(input([]Service{web}, inEvening), t0),
			until: time.Date(2030, 1, 2, 22, 0, 0, 0, time.UTC),
		},
		{
			name:      "inside its window an addition happens at once",
			in:        at(input([]Service{web}, atNight), t0),
			announced: true,
		},
		{
			name: "a delay ending after the window closes waits for the next day's window",
			in: at(input([]Service{web}, Advertisement{Name: "both", AdditionHold: &Hold{
				MinDelay: time.Hour, Windows: []Window{night}}}), t0),
			until: time.Date(2030, 1, 3, 2, 0, 0, 0, time.UTC),
		},
	})
}

// TestHoldSparesAdmittedAndReleasedServices checks that a Service the node announces already, or
// released after its hold began, is not held.
func TestHoldSparesAdmittedAndReleasedServices(t *testing.T) {
	t.Parallel()
	f := newHoldFixture(t)
	web, delayed := f.web, f.delayed
	runHoldCases(t, []holdCase{
		{
			name: "a Service the node announces already is never held",
			in: with(at(input([]Service{web}, delayed), t0), func(in *Input) {
				in.Admitted = map[string]bool{web.Key: true}
			}),
			announced: true,
		},
		{
			name:      "the release annotation releases an addition held since before it",
			in:        at(input([]Service{with(web, func(s *Service) { s.ReleasedAt = t0 })}, delayed), t0),
			announced: true,
		},
		{
			name: "a release older than the hold releases nothing",
			in: at(input([]Service{with(web, func(s *Service) { s.ReleasedAt = t0.Add(-time.Hour) })}, delayed),
				t0),
			until: t0.Add(10 * time.Minute),
		},
	})
}

// TestHoldsOfSeveralAdvertisementsCombine checks that a Service is held if any advertisement
// announcing it holds, with the longest delay; holds of advertisements
// that do not select it do not count.
func TestHoldsOfSeveralAdvertisementsCombine(t *testing.T) {
	t.Parallel()
	f := newHoldFixture(t)
	web, delayed, plain := f.web, f.delayed, f.plain
	runHoldCases(t, []holdCase{
		{
			name:      "without a hold an addition happens at once",
			in:        at(input([]Service{web}, plain), t0),
			announced: true,
		},
		{
			name:  "with a held and a plain advertisement the Service is held",
			in:    at(input([]Service{web}, plain, delayed), t0),
			until: t0.Add(10 * time.Minute),
		},
		{
			name:  "with two holds the longer delay counts",
			in:    at(input([]Service{web}, delayed, Advertisement{Name: "short", AdditionHold: &Hold{MinDelay: time.Minute}}), t0),
			until: t0.Add(10 * time.Minute),
		},
		{
			name:      "a hold on an advertisement that does not select the Service holds nothing of it",
			in:        at(input([]Service{web}, with(delayed, func(a *Advertisement) { a.Pools = []string{"red"} }), plain), t0),
			announced: true,
		},
	})
}

func TestAHeldAdditionIsAnnouncedWhenItsTimeComes(t *testing.T) {
	t.Parallel()
	// The caller feeds back what Compute returned, as the speaker does.
	web := svc("web", "blue", "203.0.113.10")
	web.AnnouncedElsewhere = true
	in := input([]Service{web}, Advertisement{Name: "delayed", AdditionHold: &Hold{MinDelay: time.Minute}})
	in.Now = t0
	res := Compute(in)
	if len(res.Held) != 1 {
		t.Fatalf("not held at first: %+v", res)
	}
	in.HeldSince = map[string]time.Time{res.Held[0].Service: res.Held[0].Since}
	in.Now = res.NextChange.Add(-time.Nanosecond)
	if res := Compute(in); len(res.Held) != 1 || len(res.Sessions["ebgp"]) != 0 {
		t.Fatalf("announced before its time: %+v", res)
	}
	in.Now = res.NextChange
	res = Compute(in)
	if len(res.Held) != 0 || len(res.Sessions["ebgp"]) != 1 {
		t.Fatalf("not announced at its time: %+v", res)
	}
	// Once announced, it stays announced although the hold would start
	// over for a newcomer.
	in.Admitted = map[string]bool{}
	for _, k := range res.Announced {
		in.Admitted[k] = true
	}
	in.HeldSince = nil
	in.Now = in.Now.Add(time.Second)
	if res := Compute(in); len(res.Sessions["ebgp"]) != 1 {
		t.Fatalf("an admitted Service was held again: %+v", res)
	}
}

func TestWithdrawalsAreNeverHeld(t *testing.T) {
	t.Parallel()
	web := local(svc("web", "blue", "203.0.113.10"), ready("n2"))
	web.AnnouncedElsewhere = true
	in := input([]Service{web}, Advertisement{Name: "delayed", AdditionHold: &Hold{MinDelay: time.Hour}})
	in.Now = t0
	in.Admitted = map[string]bool{web.Key: true}
	if res := Compute(in); len(res.Sessions["ebgp"]) != 0 || len(res.Held) != 0 {
		t.Fatalf("a node without local endpoints still announces or holds: %+v", res)
	}
}

func TestParseWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		start, end, zone string
		wantErr          string
	}{
		{start: "02:00", end: "04:00", zone: "Europe/Berlin"},
		{start: "23:30", end: "00:30", zone: ""},
		{start: "2:00", end: "04:00", wantErr: `invalid time of day "2:00"`},
		{start: "02:00", end: "24:00", wantErr: `invalid time of day "24:00"`},
		{start: "02:60", end: "04:00", wantErr: `invalid time of day "02:60"`},
		{start: "02:00", end: "02:00", wantErr: "is empty"},
		{start: "02:00", end: "04:00", zone: "Mars/Olympus_Mons", wantErr: `unknown time zone "Mars/Olympus_Mons"`},
	}
	for _, tt := range tests {
		t.Run(tt.start+"-"+tt.end+" "+tt.zone, func(t *testing.T) {
			_, err := ParseWindow(tt.start, tt.end, tt.zone)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWindowNext(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name   string
		window Window
		at     time.Time
		want   time.Time
	}{
		{"before the window it opens later that day", mustWindow(t, "02:00", "04:00", "UTC"), utc("2030-01-02T01:00:00Z"), utc("2030-01-02T02:00:00Z")},
		{"inside the window it is now", mustWindow(t, "02:00", "04:00", "UTC"), utc("2030-01-02T03:00:00Z"), utc("2030-01-02T03:00:00Z")},
		{"at the closing minute it is the next day", mustWindow(t, "02:00", "04:00", "UTC"), utc("2030-01-02T04:00:00Z"), utc("2030-01-03T02:00:00Z")},
		{"a window across midnight is open after midnight", mustWindow(t, "23:00", "01:00", "UTC"), utc("2030-01-02T00:30:00Z"), utc("2030-01-02T00:30:00Z")},
		{"a window across midnight opens in the evening", mustWindow(t, "23:00", "01:00", "UTC"), utc("2030-01-02T12:00:00Z"), utc("2030-01-02T23:00:00Z")},
		{"the time zone shifts the window", Window{Start: 2 * time.Hour, End: 4 * time.Hour, Location: berlin}, utc("2030-01-02T00:00:00Z"), utc("2030-01-02T01:00:00Z")},
		{"summer time shifts it again", Window{Start: 2 * time.Hour, End: 4 * time.Hour, Location: berlin}, utc("2030-07-02T03:00:00Z"), utc("2030-07-03T00:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.window.next(tt.at); !got.Equal(tt.want) {
				t.Errorf("next(%s) = %s, want %s", tt.at, got.UTC(), tt.want)
			}
		})
	}
}

func TestInvalidHoldsAreErrors(t *testing.T) {
	t.Parallel()
	for _, h := range []*Hold{
		{MinDelay: -time.Second},
		{Windows: []Window{{}}},
	} {
		res := Compute(input([]Service{svc("web", "blue", "203.0.113.10")}, Advertisement{Name: "bad", AdditionHold: h}))
		if err := res.Errors["bad"]; err == nil || !strings.Contains(err.Error(), "additionHold") {
			t.Errorf("hold %+v: error = %v, want one naming additionHold", h, err)
		}
	}
}

func TestAWindowOnTheDayClocksSpringForwardStaysShort(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// On 2026-03-29 Berlin skips from 02:00 to 03:00: the window falls
	// into the skipped hour and does not open that day.
	w := Window{Start: 2 * time.Hour, End: 3 * time.Hour, Location: berlin}
	at := time.Date(2026, 3, 29, 10, 0, 0, 0, berlin)
	want := time.Date(2026, 3, 30, 2, 0, 0, 0, berlin)
	if got := w.next(at); !got.Equal(want) {
		t.Errorf("next(%s) = %s, want the next day's opening %s", at, got, want)
	}
}

func TestAWindowMissedWhileTheSpeakerWasDownWaitsForTheNextOne(t *testing.T) {
	t.Parallel()
	night := mustWindow(t, "02:00", "04:00", "UTC")
	web := svc("web", "blue", "203.0.113.10")
	web.AnnouncedElsewhere = true
	in := input([]Service{web}, Advertisement{Name: "night", AdditionHold: &Hold{Windows: []Window{night}}})
	// Held since the evening before; the speaker was down through the
	// night's window and computes again at noon.
	in.HeldSince = map[string]time.Time{web.Key: time.Date(2030, 1, 1, 20, 0, 0, 0, time.UTC)}
	in.Now = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	res := Compute(in)
	want := time.Date(2030, 1, 3, 2, 0, 0, 0, time.UTC)
	if len(res.Held) != 1 || !res.Held[0].Until.Equal(want) {
		t.Fatalf("Held = %+v, want held until the next window at %s", res.Held, want)
	}
}

func TestAServiceWhosePathsAllDrainIsListedAsDraining(t *testing.T) {
	t.Parallel()
	drainer := Advertisement{Name: "drainer", DrainOnCordon: true, Peers: []string{"ibgp"}}
	in := cordoned(input([]Service{svc("web", "blue", "203.0.113.10")}, drainer), time.Time{}, time.Minute)
	res := Compute(in)
	if !slices.Equal(res.Announced, []string{"default/web"}) || !slices.Equal(res.Draining, []string{"default/web"}) {
		t.Fatalf("Announced = %v, Draining = %v; want web in both while its paths drain", res.Announced, res.Draining)
	}
	// Another advertisement, to another peer, that does not drain on
	// cordon keeps a live path, so the Service is not draining.
	in.Advertisements = append(in.Advertisements, Advertisement{Name: "steady", Peers: []string{"ebgp"}})
	if res := Compute(in); len(res.Draining) != 0 {
		t.Fatalf("Draining = %v with a path that does not drain", res.Draining)
	}
}
