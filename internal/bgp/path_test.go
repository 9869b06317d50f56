package bgp

import (
	"net/netip"
	"testing"
)

// TestPathEqual checks that Equal compares every attribute by value: two
// paths are equal when they would put the same UPDATE on the wire.
func TestPathEqual(t *testing.T) {
	t.Parallel()
	value := func(v uint32) *uint32 { return &v }
	base := Path{
		Prefix:           netip.MustParsePrefix("203.0.113.0/24"),
		Communities:      []uint32{65000<<16 | 1},
		LargeCommunities: []LargeCommunity{{Global: 1, Local1: 2, Local2: 3}},
		LocalPref:        value(100),
		MED:              value(5),
		ASPathPrepend:    []uint32{65000},
		Weight:           3,
	}
	changed := func(f func(*Path)) Path {
		p := base.Clone()
		f(&p)
		return p
	}
	tests := []struct {
		name  string
		other Path
		want  bool
	}{
		{"a path equals a copy with its own pointers", changed(func(p *Path) { p.LocalPref, p.MED = value(100), value(5) }), true},
		{"a path without attributes differs", Path{
			Prefix: base.Prefix, Communities: []uint32{}, LargeCommunities: []LargeCommunity{}, ASPathPrepend: []uint32{},
		}, false},
		{"another prefix differs", changed(func(p *Path) { p.Prefix = netip.MustParsePrefix("203.0.113.0/25") }), false},
		{"another community differs", changed(func(p *Path) { p.Communities = []uint32{65000<<16 | 2} }), false},
		{"another large community differs", changed(func(p *Path) { p.LargeCommunities = nil }), false},
		{"a missing LocalPref differs", changed(func(p *Path) { p.LocalPref = nil }), false},
		{"another MED differs", changed(func(p *Path) { p.MED = value(6) }), false},
		{"a longer prepend differs", changed(func(p *Path) { p.ASPathPrepend = []uint32{65000, 65000} }), false},
		{"another weight differs", changed(func(p *Path) { p.Weight = 4 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := base.Equal(tt.other); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if got := tt.other.Equal(base); got != tt.want {
				t.Errorf("Equal reversed = %v, want %v", got, tt.want)
			}
		})
	}
	bare := Path{Prefix: base.Prefix}
	if !bare.Equal(Path{Prefix: base.Prefix, Communities: []uint32{}, LargeCommunities: []LargeCommunity{}, ASPathPrepend: []uint32{}}) {
		t.Errorf("a path with nil slices does not equal one with empty slices")
	}
}
