package translate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

func TestBFDProfileSettingsAndTheirDefaults(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.BFDProfileSpec
		want bgp.BFD
	}{
		{"a profile stored before the defaults existed", v1alpha1.BFDProfileSpec{},
			bgp.BFD{ReceiveInterval: translate.DefaultBFDInterval, TransmitInterval: translate.DefaultBFDInterval, DetectMultiplier: translate.DefaultBFDDetectMultiplier}},
		{"intervals in milliseconds and the multiplier", v1alpha1.BFDProfileSpec{ReceiveInterval: ptr.To[int32](50), TransmitInterval: ptr.To[int32](60000), DetectMultiplier: ptr.To[int32](255)},
			bgp.BFD{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: time.Minute, DetectMultiplier: 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := translate.BFD(&tt.spec); *got != tt.want {
				t.Errorf("BFD = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// The fields the BFD engine ignores are listed; the API server's default
// minimumTTL, which every stored profile has, is not the operator's doing.
func TestBFDLimitationsListTheFieldsTheEngineIgnores(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.BFDProfileSpec
		want []string // one fragment per limitation, in order
	}{
		{"nothing ignored", v1alpha1.BFDProfileSpec{}, nil},
		{"the default minimumTTL", v1alpha1.BFDProfileSpec{MinimumTTL: ptr.To[int32](translate.DefaultBFDMinimumTTL)}, nil},
		{"passive mode", v1alpha1.BFDProfileSpec{PassiveMode: true}, []string{translate.PassiveModeIgnored}},
		{"another minimumTTL", v1alpha1.BFDProfileSpec{MinimumTTL: ptr.To[int32](200)}, []string{"spec.minimumTTL 200:"}},
		{"both", v1alpha1.BFDProfileSpec{PassiveMode: true, MinimumTTL: ptr.To[int32](1)}, []string{"spec.passiveMode:", "spec.minimumTTL 1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate.BFDLimitations(&tt.spec)
			if len(got) != len(tt.want) || !slices.EqualFunc(got, tt.want, strings.HasPrefix) {
				t.Errorf("limitations %q, want ones starting with %q", got, tt.want)
			}
		})
	}
}
