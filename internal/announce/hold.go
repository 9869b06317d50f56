package announce

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Hold holds back additions: a node that could start announcing a Service
// which another node already announces waits for MinDelay, then for one of
// Windows (if any).
type Hold struct {
	MinDelay time.Duration
	Windows  []Window
}

// Window is a daily period in a time zone. An End before Start crosses
// midnight. The zero Window is invalid; ParseWindow makes valid ones.
type Window struct {
	// Start and End are offsets from midnight, below 24 hours.
	Start, End time.Duration
	Location   *time.Location
}

// ParseWindow reads a window from HH:MM times and an IANA time zone name
// ("" means UTC).
func ParseWindow(start, end, zone string) (Window, error) {
	var w Window
	var err error
	if w.Start, err = parseClock(start); err != nil {
		return Window{}, err
	}
	if w.End, err = parseClock(end); err != nil {
		return Window{}, err
	}
	if w.Start == w.End {
		return Window{}, fmt.Errorf("window %q is empty: start and end must differ", start+"-"+end)
	}
	if zone == "" {
		zone = "UTC"
	}
	if w.Location, err = time.LoadLocation(zone); err != nil {
		return Window{}, fmt.Errorf("unknown time zone %q", zone)
	}
	return w, nil
}

// parseClock reads HH:MM on a 24-hour clock: two digits each, as the
// CRD's pattern wants (fmt.Sscanf would also take signs and spaces).
func parseClock(s string) (time.Duration, error) {
	if len(s) != 5 || s[2] != ':' || !isDecimal(s[:2]) || !isDecimal(s[3:]) {
		return 0, fmt.Errorf("invalid time of day %q: want HH:MM", s)
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("invalid time of day %q: want HH:MM", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// String shows the window as written.
func (w Window) String() string {
	clock := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	zone := "UTC"
	if w.Location != nil {
		zone = w.Location.String()
	}
	return clock(w.Start) + "-" + clock(w.End) + " " + zone
}

// next returns the earliest time at or after t that lies inside the
// window.
func (w Window) next(t time.Time) time.Time {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	y, mo, d := local.Date()
	best := time.Time{}
	// Whether the window crosses midnight follows from how it is written,
	// not from the times a day gives it: on the day clocks spring forward,
	// an opening inside the skipped hour moves past the closing.
	crosses := w.End < w.Start
	// The window of the day before may still be open (one that crosses
	// midnight); the one of the day after is the latest that can matter.
	for day := -1; day <= 1; day++ {
		midnight := time.Date(y, mo, d+day, 0, 0, 0, 0, loc)
		open := clockOn(midnight, w.Start)
		shut := clockOn(midnight, w.End)
		if crosses {
			shut = clockOn(midnight.AddDate(0, 0, 1), w.End)
		}
		if !shut.After(open) {
			continue // the window falls into a skipped hour that day
		}
		var at time.Time
		switch {
		case !t.Before(open) && t.Before(shut):
			at = t
		case t.Before(open):
			at = open
		default:
			continue
		}
		if best.IsZero() || at.Before(best) {
			best = at
		}
	}
	return best
}

// clockOn returns the wall-clock time offset after midnight's date, so
// that a window at 02:30 stays at 02:30 across daylight-saving changes.
func clockOn(midnight time.Time, offset time.Duration) time.Time {
	y, m, d := midnight.Date()
	h := int(offset / time.Hour)
	mi := int(offset % time.Hour / time.Minute)
	return time.Date(y, m, d, h, mi, 0, 0, midnight.Location())
}

// until returns when an addition held since since may happen, as seen at
// now: after the minimum delay, and inside a window if there are any. A
// window that opened and closed while nobody looked (the speaker was down)
// is not taken for an open one: from now on, only a window open now or
// later counts.
func (h *Hold) until(since, now time.Time) time.Time {
	at := since.Add(h.MinDelay)
	if len(h.Windows) == 0 {
		return at
	}
	if at.Before(now) {
		at = now
	}
	best := time.Time{}
	for _, w := range h.Windows {
		if n := w.next(at); best.IsZero() || n.Before(best) {
			best = n
		}
	}
	return best
}

// merge combines the holds of several advertisements announcing one
// Service: the longest delay, and any of the windows.
func mergeHolds(holds []*Hold) *Hold {
	if len(holds) == 0 {
		return nil
	}
	if len(holds) == 1 {
		return holds[0]
	}
	out := &Hold{}
	for _, h := range holds {
		out.MinDelay = max(out.MinDelay, h.MinDelay)
		out.Windows = append(out.Windows, h.Windows...)
	}
	// A hold without windows lets the addition happen at any time of day,
	// so it would be wrong to make it wait for another's window: windows
	// only apply if every hold has some.
	for _, h := range holds {
		if len(h.Windows) == 0 {
			out.Windows = nil
			break
		}
	}
	return out
}

// Held is a Service this node would announce but holds back.
type Held struct {
	Service string
	// Since is when the node could first have announced it; Until is when
	// it will, unless released earlier.
	Since, Until time.Time
}

// held tells whether the Service svc, which the advertisements ads
// announce from this node, is held back, and records it if so.
func (c *computation) held(svc *Service, ads []*active, in *Input) bool {
	if in.Admitted[svc.Key] || !svc.AnnouncedElsewhere {
		return false
	}
	var holds []*Hold
	for _, a := range ads {
		if a.AdditionHold != nil {
			holds = append(holds, a.AdditionHold)
		}
	}
	hold := mergeHolds(holds)
	if hold == nil {
		return false
	}
	since, ok := in.HeldSince[svc.Key]
	if !ok || since.After(in.Now) {
		since = in.Now
	}
	if !svc.ReleasedAt.IsZero() && !svc.ReleasedAt.Before(since) {
		return false
	}
	until := hold.until(since, in.Now)
	if !in.Now.Before(until) {
		return false
	}
	c.heldServices = append(c.heldServices, Held{Service: svc.Key, Since: since, Until: until})
	c.changesAt(until)
	return true
}

// sortHeld orders held Services by key.
func sortHeld(h []Held) {
	slices.SortFunc(h, func(a, b Held) int { return cmp.Compare(a.Service, b.Service) })
}
