package announce

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCommunity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantStd   string
		wantLarge string
		wantErr   string
	}{
		{name: "two numbers are a standard community", in: "65000:100", wantStd: "65000:100"},
		{name: "the smallest standard community is 0:0", in: "0:0", wantStd: "0:0"},
		{name: "the largest standard community is 65535:65535", in: "65535:65535", wantStd: "65535:65535"},
		{name: "leading zeros are allowed", in: "065000:0100", wantStd: "65000:100"},
		{name: "no-export is 65535:65281", in: "no-export", wantStd: "65535:65281"},
		{name: "no-advertise is 65535:65282", in: "no-advertise", wantStd: "65535:65282"},
		{name: "no-export-subconfed is 65535:65283", in: "no-export-subconfed", wantStd: "65535:65283"},
		{name: "no-peer is 65535:65284", in: "no-peer", wantStd: "65535:65284"},
		{name: "three numbers are a large community", in: "4200000000:1:2", wantLarge: "4200000000:1:2"},
		{name: "the largest large community has three 32-bit maxima", in: "4294967295:4294967295:4294967295", wantLarge: "4294967295:4294967295:4294967295"},
		{name: "a small large community stays large", in: "0:0:0", wantLarge: "0:0:0"},

		{name: "an empty string is an error", in: "", wantErr: `community ""`},
		{name: "one number is an error", in: "65000", wantErr: `community "65000": want a:b`},
		{name: "four numbers are an error", in: "1:2:3:4", wantErr: `community "1:2:3:4": want a:b`},
		{name: "an ASN over 65535 in a standard community is an error that suggests the large form", in: "4200000000:1",
			wantErr: `community "4200000000:1": "4200000000" is not a number from 0 to 65535; use global:local1:local2`},
		{name: "a value over 65535 is an error", in: "65000:65536", wantErr: `community "65000:65536": "65536" is not a number from 0 to 65535`},
		{name: "a number over 32 bits in a large community is an error", in: "4294967296:1:1", wantErr: `"4294967296" is not a number from 0 to 4294967295`},
		{name: "a negative number is an error", in: "-1:1", wantErr: `"-1" is not a number`},
		{name: "a plus sign is an error", in: "+1:1", wantErr: `"+1" is not a number`},
		{name: "a hexadecimal number is an error", in: "0x10:1", wantErr: `"0x10" is not a number`},
		{name: "a missing number is an error", in: "65000:", wantErr: `community "65000:": "" is not a number`},
		{name: "a missing middle number of a large community is an error", in: "1::2", wantErr: `"" is not a number`},
		{name: "spaces are an error", in: " 65000:1", wantErr: `community " 65000:1"`},
		{name: "well-known names are lower case", in: "No-Export", wantErr: `community "No-Export"`},
		{name: "an unknown name is an error", in: "no-exports", wantErr: `community "no-exports"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			std, large, err := ParseCommunity(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCommunity(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidCommunity) {
					t.Errorf("error %q does not wrap ErrInvalidCommunity", err)
				}
				if std != nil || large != nil {
					t.Errorf("ParseCommunity(%q) returned %v, %v with an error", tt.in, std, large)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommunity(%q): %v", tt.in, err)
			}
			switch {
			case tt.wantStd != "" && (std == nil || large != nil || std.String() != tt.wantStd):
				t.Errorf("ParseCommunity(%q) = %v, %v, want standard %s", tt.in, std, large, tt.wantStd)
			case tt.wantLarge != "" && (large == nil || std != nil || large.String() != tt.wantLarge):
				t.Errorf("ParseCommunity(%q) = %v, %v, want large %s", tt.in, std, large, tt.wantLarge)
			}
		})
	}
}

// TestCommunityStringParsesBack checks that String writes what
// ParseCommunity reads, for both kinds.
func TestCommunityStringParsesBack(t *testing.T) {
	t.Parallel()
	for _, c := range []Community{{0, 0}, {65000, 100}, {65535, 65281}} {
		std, _, err := ParseCommunity(c.String())
		if err != nil || std == nil || *std != c {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", c.String(), std, err, c)
		}
	}
	for _, c := range []LargeCommunity{{Global: 0, Local1: 0, Local2: 0}, {Global: 4200000000, Local1: 1, Local2: 2}} {
		_, large, err := ParseCommunity(c.String())
		if err != nil || large == nil || *large != c {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", c.String(), large, err, c)
		}
	}
}
