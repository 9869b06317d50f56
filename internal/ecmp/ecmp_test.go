package ecmp

import (
	"math"
	"strings"
	"testing"
)

// set parses a next-hop list written as on the command line; "" is the
// empty set.
func set(t *testing.T, s string) []NextHop {
	t.Helper()
	if s == "" {
		return nil
	}
	nhs, err := ParseNextHops(s)
	if err != nil {
		t.Fatalf("ParseNextHops(%q): %v", s, err)
	}
	return nhs
}

const tolerance = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tolerance }

type whatIfCase struct {
	name          string
	opts          Options
	before, after string
	moved, lost   float64
	// per, when set, is the expected PerNextHop.
	per map[string]float64
}

func runWhatIf(t *testing.T, model Model, tests []whatIfCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, after := set(t, tc.before), set(t, tc.after)
			got, err := WhatIf(model, before, after, tc.opts)
			if err != nil {
				t.Fatalf("WhatIf(%s, %q, %q): %v", model, tc.before, tc.after, err)
			}
			if !near(got.Moved, tc.moved) || !near(got.Lost, tc.lost) || !near(got.Rehashed, tc.moved-tc.lost) {
				t.Errorf("WhatIf(%s, %q, %q) = moved %.6f lost %.6f rehashed %.6f, want moved %.6f lost %.6f rehashed %.6f",
					model, tc.before, tc.after, got.Moved, got.Lost, got.Rehashed, tc.moved, tc.lost, tc.moved-tc.lost)
			}
			if got.Rehashed != got.Moved-got.Lost {
				t.Errorf("Rehashed %v is not Moved - Lost = %v", got.Rehashed, got.Moved-got.Lost)
			}
			checkPerNextHop(t, got, before, tc.per)
		})
	}
}

// checkPerNextHop checks the invariants every estimate keeps (one entry per
// before next hop, summing to Moved) and the expected values if given.
func checkPerNextHop(t *testing.T, got Estimate, before []NextHop, want map[string]float64) {
	t.Helper()
	if len(got.PerNextHop) != len(before) {
		t.Errorf("PerNextHop has %d entries, want one per before next hop (%d): %v", len(got.PerNextHop), len(before), got.PerNextHop)
	}
	var sum float64
	for _, nh := range before {
		v, ok := got.PerNextHop[nh.Name]
		if !ok {
			t.Errorf("PerNextHop lacks %q", nh.Name)
		}
		sum += v
	}
	if !near(sum, got.Moved) {
		t.Errorf("PerNextHop sums to %v, Moved is %v", sum, got.Moved)
	}
	for name, w := range want {
		if !near(got.PerNextHop[name], w) {
			t.Errorf("PerNextHop[%q] = %.6f, want %.6f", name, got.PerNextHop[name], w)
		}
	}
}

func TestHashThreshold(t *testing.T) {
	t.Parallel()
	runWhatIf(t, HashThreshold, []whatIfCase{
		{
			// a keeps [0,1/3); b had [1/3,2/3) and now has [1/2,1), keeping 1/6.
			name:   "removing the last of three equal next hops moves half of the connections",
			before: "a,b,c", after: "a,b",
			moved: 1.0 / 2, lost: 1.0 / 3,
			per: map[string]float64{"a": 0, "b": 1.0 / 6, "c": 1.0 / 3},
		},
		{
			// a keeps [0,1/3) and c keeps [2/3,1): only b's connections move.
			name:   "removing the middle of three equal next hops moves only its own third",
			before: "a,b,c", after: "a,c",
			moved: 1.0 / 3, lost: 1.0 / 3,
			per: map[string]float64{"a": 0, "b": 1.0 / 3, "c": 0},
		},
		{
			name:   "removing the first of three equal next hops moves half of the connections",
			before: "a,b,c", after: "b,c",
			moved: 1.0 / 2, lost: 1.0 / 3,
			per: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 6, "c": 0},
		},
		{
			// a keeps 1/4, b keeps [1/3,1/2), c keeps [2/3,3/4).
			name:   "adding a fourth next hop at the end moves half of the connections",
			before: "a,b,c", after: "a,b,c,d",
			moved: 1.0 / 2, lost: 0,
			per: map[string]float64{"a": 1.0 / 12, "b": 1.0 / 6, "c": 1.0 / 4},
		},
		{
			// a keeps [0,1/3), b keeps [1/2,2/3), c keeps [3/4,1).
			name:   "doubling the first next hop's weight moves a quarter",
			before: "a,b,c", after: "a:2,b,c",
			moved: 1.0 / 4, lost: 0,
		},
		{
			name:   "removing the light next hop of 3:1 moves only its quarter",
			before: "a:3,b", after: "a",
			moved: 1.0 / 4, lost: 1.0 / 4,
		},
		{
			// b's region [3/4,1) becomes [0,1) and keeps its quarter.
			name:   "removing the heavy next hop of 3:1 moves only its three quarters",
			before: "a:3,b", after: "b",
			moved: 3.0 / 4, lost: 3.0 / 4,
		},
		{
			// Regions 3/5, 1/5, 1/5 become 1/2, 1/6, 1/6, 1/6; a keeps 1/2,
			// b keeps [3/5,2/3) = 1/15, c keeps [4/5,5/6) = 1/30.
			name:   "adding to unequal weights moves two fifths",
			before: "a:3,b:1,c", after: "a:3,b:1,c,d",
			moved: 2.0 / 5, lost: 0,
		},
		{
			name:   "an empty after set loses every connection",
			before: "a,b,c", after: "",
			moved: 1, lost: 1,
			per: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3},
		},
		{
			name:   "no change moves nothing",
			before: "a:3,b:1,c", after: "a:3,b:1,c",
			moved: 0, lost: 0,
		},
		{
			name:   "weight 0 counts as weight 1",
			before: "a,b", after: "a,b",
			moved: 0, lost: 0,
		},
		{
			name:   "reordering two next hops swaps their regions and moves everything",
			before: "a,b", after: "b,a",
			moved: 1, lost: 0,
		},
		{
			name:   "scaling every weight alike moves nothing",
			before: "a:1,b:2,c:3", after: "a:1000,b:2000,c:3000",
			moved: 0, lost: 0,
		},
	})
}

func TestModuloN(t *testing.T) {
	t.Parallel()
	runWhatIf(t, ModuloN, []whatIfCase{
		{
			// Over h = 0..5, (h mod 3, h mod 2) agrees only for h = 0 and 1.
			name:   "removing the last of three equal next hops moves two thirds",
			before: "a,b,c", after: "a,b",
			moved: 2.0 / 3, lost: 1.0 / 3,
		},
		{
			name:   "removing the middle of three equal next hops moves two thirds",
			before: "a,b,c", after: "a,c",
			moved: 2.0 / 3, lost: 1.0 / 3,
		},
		{
			name:   "removing the first of three equal next hops moves two thirds",
			before: "a,b,c", after: "b,c",
			moved: 2.0 / 3, lost: 1.0 / 3,
			per: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 6, "c": 1.0 / 6},
		},
		{
			// Only h ≡ 0, 1, 2 (mod 12) keep their next hop.
			name:   "adding a fourth next hop moves three quarters",
			before: "a,b,c", after: "a,b,c,d",
			moved: 3.0 / 4, lost: 0,
		},
		{
			// Slots [a b c] become [a a b c]; h = 0, 9, 10, 11 of 0..11 stay.
			name:   "doubling the first next hop's weight moves two thirds",
			before: "a,b,c", after: "a:2,b,c",
			moved: 2.0 / 3, lost: 0,
		},
		{
			name:   "removing the light next hop of 3:1 moves only its quarter",
			before: "a:3,b", after: "a",
			moved: 1.0 / 4, lost: 1.0 / 4,
		},
		{
			// 5 and 6 slots are coprime, so every slot pair occurs once in
			// 30: a stays on 3·3, b on 1·1, c on 1·1 of them.
			name:   "adding to unequal weights moves nineteen thirtieths",
			before: "a:3,b:1,c", after: "a:3,b:1,c,d",
			moved: 19.0 / 30, lost: 0,
		},
		{
			name:   "an empty after set loses every connection",
			before: "a:3,b", after: "",
			moved: 1, lost: 1,
			per: map[string]float64{"a": 3.0 / 4, "b": 1.0 / 4},
		},
		{
			name:   "no change moves nothing",
			before: "a:3,b:1,c", after: "a:3,b:1,c",
			moved: 0, lost: 0,
		},
		{
			// Slot lists of 8e9 and 4e9 entries: a fills the first half
			// before and everything after, so only b's half moves.
			name:   "huge weights are counted exactly",
			before: "a:4000000000,b:4000000000", after: "a:4000000000",
			moved: 1.0 / 2, lost: 1.0 / 2,
		},
	})
}

func TestResilient(t *testing.T) {
	t.Parallel()
	idle := Options{IdleMigration: true}
	runWhatIf(t, Resilient, []whatIfCase{
		{
			// 128 buckets over three equal next hops are 43, 42, 43.
			name:   "removing the last of three equal next hops moves only its buckets",
			before: "a,b,c", after: "a,b",
			moved: 43.0 / 128, lost: 43.0 / 128,
		},
		{
			name:   "removing the middle of three equal next hops moves only its buckets",
			before: "a,b,c", after: "a,c",
			moved: 42.0 / 128, lost: 42.0 / 128,
			per: map[string]float64{"a": 0, "b": 42.0 / 128, "c": 0},
		},
		{
			name:   "removing the first of three equal next hops moves only its buckets",
			before: "a,b,c", after: "b,c",
			moved: 43.0 / 128, lost: 43.0 / 128,
		},
		{
			name:   "removing with idle migration moves no more than the removed buckets",
			opts:   idle,
			before: "a,b,c", after: "a,b",
			moved: 43.0 / 128, lost: 43.0 / 128,
		},
		{
			name:   "adding a next hop moves no existing connection while buckets are busy",
			before: "a,b,c", after: "a,b,c,d",
			moved: 0, lost: 0,
		},
		{
			// 43, 42, 43 become 32 each: 11 + 10 + 11 buckets move to d.
			name:   "adding a next hop with idle migration moves the new one's quarter",
			opts:   idle,
			before: "a,b,c", after: "a,b,c,d",
			moved: 32.0 / 128, lost: 0,
			per: map[string]float64{"a": 11.0 / 128, "b": 10.0 / 128, "c": 11.0 / 128},
		},
		{
			name:   "a reweight moves no existing connection while buckets are busy",
			before: "a,b,c", after: "a:2,b,c",
			moved: 0, lost: 0,
		},
		{
			// 43, 42, 43 become 64, 32, 32: b gives 10, c gives 11.
			name:   "a reweight with idle migration moves what the lighter next hops give up",
			opts:   idle,
			before: "a,b,c", after: "a:2,b,c",
			moved: 21.0 / 128, lost: 0,
		},
		{
			name:   "removing the light next hop of 3:1 moves its 32 buckets",
			before: "a:3,b", after: "a",
			moved: 32.0 / 128, lost: 32.0 / 128,
		},
		{
			// round(4/3) = 1 and round(8/3) = 3 give the counts 1, 2, 1.
			name:   "a small table shows the quantization of bucket counts",
			opts:   Options{Buckets: 4},
			before: "a,b,c", after: "a,c",
			moved: 2.0 / 4, lost: 2.0 / 4,
		},
		{
			name:   "an empty after set loses every connection",
			before: "a,b,c", after: "",
			moved: 1, lost: 1,
			per: map[string]float64{"a": 43.0 / 128, "b": 42.0 / 128, "c": 43.0 / 128},
		},
		{
			name:   "no change moves nothing",
			before: "a:3,b:1,c", after: "a:3,b:1,c",
			moved: 0, lost: 0,
		},
		{
			name:   "no change moves nothing even with idle migration",
			opts:   idle,
			before: "a:3,b:1,c", after: "a:3,b:1,c",
			moved: 0, lost: 0,
		},
	})
}

func TestBucketCountsRoundCumulativeSharesHalfUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		nhs     string
		buckets uint64
		want    []uint64
	}{
		{name: "three equal next hops in 128 buckets", nhs: "a,b,c", buckets: 128, want: []uint64{43, 42, 43}},
		{name: "three equal next hops in 4 buckets", nhs: "a,b,c", buckets: 4, want: []uint64{1, 2, 1}},
		{name: "an exact half rounds up", nhs: "a,b,c,d", buckets: 2, want: []uint64{1, 0, 1, 0}},
		{name: "weights 3:1 in 8 buckets, as in the kernel documentation", nhs: "a:3,b", buckets: 8, want: []uint64{6, 2}},
		{name: "weights near the 32-bit limit do not overflow", nhs: "a:4294967295,b:4294967295", buckets: 65535, want: []uint64{32768, 32767}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bucketCounts(set(t, tc.nhs), tc.buckets)
			if len(got) != len(tc.want) {
				t.Fatalf("bucketCounts(%q, %d) = %v, want %v", tc.nhs, tc.buckets, got, tc.want)
			}
			var sum uint64
			for i := range got {
				sum += got[i]
				if got[i] != tc.want[i] {
					t.Fatalf("bucketCounts(%q, %d) = %v, want %v", tc.nhs, tc.buckets, got, tc.want)
				}
			}
			if sum != tc.buckets {
				t.Errorf("bucket counts add up to %d, want %d", sum, tc.buckets)
			}
		})
	}
}

func TestWhatIfRejectsBadInput(t *testing.T) {
	t.Parallel()
	abc := []NextHop{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	tests := []struct {
		name          string
		model         Model
		before, after []NextHop
		opts          Options
		want          []string // substrings of the error
	}{
		{name: "an unknown model is quoted with the valid names", model: "ecmp", before: abc, after: abc,
			want: []string{`"ecmp"`, "modulo-n", "hash-threshold", "resilient"}},
		{name: "an empty model is unknown", model: "", before: abc, after: abc, want: []string{`""`}},
		{name: "an empty before set is refused", model: HashThreshold, before: nil, after: abc,
			want: []string{"empty before set"}},
		{name: "a duplicate in the before set is quoted", model: ModuloN, before: []NextHop{{Name: "a"}, {Name: "a", Weight: 2}}, after: abc,
			want: []string{"before set", `duplicate next hop "a"`}},
		{name: "a duplicate in the after set is quoted", model: ModuloN, before: abc, after: []NextHop{{Name: "c"}, {Name: "c"}},
			want: []string{"after set", `duplicate next hop "c"`}},
		{name: "a next hop without a name is refused", model: HashThreshold, before: []NextHop{{Name: "a"}, {}}, after: abc,
			want: []string{"next hop 1", "no name"}},
		{name: "fewer buckets than before next hops are refused", model: Resilient, before: abc, after: abc[:1], opts: Options{Buckets: 2},
			want: []string{"2 buckets", "3 next hops", "before set"}},
		{name: "fewer buckets than after next hops are refused", model: Resilient, before: abc[:1], after: abc, opts: Options{Buckets: 2},
			want: []string{"2 buckets", "3 next hops", "after set"}},
		{name: "a negative bucket count is quoted", model: Resilient, before: abc, after: abc, opts: Options{Buckets: -1},
			want: []string{"-1"}},
		{name: "more buckets than the kernel allows are refused", model: Resilient, before: abc, after: abc, opts: Options{Buckets: 70000},
			want: []string{"70000", "65535"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WhatIf(tc.model, tc.before, tc.after, tc.opts)
			if err == nil {
				t.Fatalf("WhatIf succeeded, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	t.Parallel()
	for _, m := range Models() {
		got, err := ParseModel(string(m))
		if err != nil || got != m {
			t.Errorf("ParseModel(%q) = %q, %v; want %q", m, got, err, m)
		}
	}
	_, err := ParseModel("Modulo")
	if err == nil || !strings.Contains(err.Error(), `"Modulo"`) || !strings.Contains(err.Error(), "modulo-n, hash-threshold, resilient") {
		t.Errorf("ParseModel(\"Modulo\") error = %v, want it to quote the input and list the models", err)
	}
}

func TestWhatIfLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	before := []NextHop{{Name: "a", Weight: 3}, {Name: "b"}}
	after := []NextHop{{Name: "b", Weight: 2}}
	for _, m := range Models() {
		if _, err := WhatIf(m, before, after, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if before[0] != (NextHop{Name: "a", Weight: 3}) || before[1] != (NextHop{Name: "b"}) || after[0] != (NextHop{Name: "b", Weight: 2}) {
		t.Errorf("WhatIf changed its input: before %v, after %v", before, after)
	}
}
