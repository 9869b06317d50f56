package announce

import (
	"errors"
	"testing"
)

// TestComputeReportsInvalidAdvertisements checks that an advertisement wrong on its own is an
// error, contributes nothing, and is reported whatever the node.
func TestComputeReportsInvalidAdvertisements(t *testing.T) {
	t.Parallel()
	runComputeCases(t, []computeCase{
		{
			name: "a bad community is an error for its advertisement only, which contributes nothing",
			in: input([]Service{web},
				adv("bad", func(a *Advertisement) {
					a.Communities = []string{"65000:1", "65000:x", "1:2:3:4"}
					a.MED = ptr[uint32](5)
				}),
				adv("good", func(a *Advertisement) { a.MED = ptr[uint32](6) })),
			want: both("203.0.113.10/32 med=6"),
			wantErr: map[string][]string{
				"bad": {`community "65000:x"`, `"x" is not a number`, `community "1:2:3:4"`},
			},
		},
		{
			name: "two advertisements with one name are both unused and reported under the name",
			in: input([]Service{web},
				adv("twice", func(a *Advertisement) { a.Communities = []string{"65000:1"} }),
				adv("twice", func(a *Advertisement) { a.Communities = []string{"65000:2"} })),
			want:    both(),
			wantErr: map[string][]string{"twice": {`2 advertisements are named "twice"`}},
		},
		{
			name: "an invalid advertisement is reported on a node whose network is unavailable too",
			in: with(input([]Service{web}, adv("bad", func(a *Advertisement) { a.Communities = []string{"65536:1"} })),
				func(in *Input) { in.Node.NetworkUnavailable = true }),
			want:    both(),
			wantErr: map[string][]string{"bad": {`community "65536:1"`}},
		},
		{
			name:    "an invalid advertisement is reported on a node without sessions too",
			in:      with(input([]Service{web}, adv("bad", func(a *Advertisement) { a.Communities = []string{""} })), func(in *Input) { in.Peers = nil }),
			want:    map[string][]string{},
			wantErr: map[string][]string{"bad": {`community ""`}},
		},
	})
}

// TestComputeErrorKinds checks that errors tell invalid advertisements and
// conflicts apart.
func TestComputeErrorKinds(t *testing.T) {
	t.Parallel()
	res := Compute(input([]Service{svc("web", "blue", "203.0.113.10")},
		Advertisement{Name: "bad", Communities: []string{"nope"}},
		Advertisement{Name: "a", MED: ptr[uint32](1)},
		Advertisement{Name: "b", MED: ptr[uint32](2)},
	))
	if err := res.Errors["bad"]; !errors.Is(err, ErrInvalidAdvertisement) {
		t.Errorf("error for a bad community is %v, want one wrapping ErrInvalidAdvertisement", err)
	}
	for _, name := range []string{"a", "b"} {
		if err := res.Errors[name]; !errors.Is(err, ErrConflict) {
			t.Errorf("error for %q is %v, want one wrapping ErrConflict", name, err)
		}
	}
}
