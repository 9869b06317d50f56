package translate

import (
	"fmt"
	"time"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/bgp"
)

// Defaults of a BFDProfile's fields, which the API server fills in; they
// apply to profiles stored before a default existed.
const (
	DefaultBFDInterval         = 300 * time.Millisecond
	DefaultBFDDetectMultiplier = 3
	// DefaultBFDMinimumTTL is stored with every profile that does not
	// set minimumTTL, so only other values are the operator's doing.
	DefaultBFDMinimumTTL = 254
)

// PassiveModeIgnored says that the BFD engine does not honour a profile's
// spec.passiveMode.
const PassiveModeIgnored = "spec.passiveMode: the BFD engine has no passive mode; sessions send from the start"

// BFD returns the BFD session settings of a profile.
func BFD(s *v1alpha1.BFDProfileSpec) *bgp.BFD {
	interval := func(ms *int32) time.Duration {
		if ms == nil {
			return DefaultBFDInterval
		}
		return time.Duration(*ms) * time.Millisecond
	}
	b := &bgp.BFD{ReceiveInterval: interval(s.ReceiveInterval), TransmitInterval: interval(s.TransmitInterval), DetectMultiplier: DefaultBFDDetectMultiplier}
	if s.DetectMultiplier != nil {
		b.DetectMultiplier = uint8(*s.DetectMultiplier)
	}
	return b
}

// BFDLimitations lists, one message each, the fields of a profile that
// the BFD engine does not honour. The profile is used all the same.
func BFDLimitations(s *v1alpha1.BFDProfileSpec) []string {
	var ignored []string
	if s.PassiveMode {
		ignored = append(ignored, PassiveModeIgnored)
	}
	if ttl := s.MinimumTTL; ttl != nil && *ttl != DefaultBFDMinimumTTL {
		ignored = append(ignored, fmt.Sprintf("spec.minimumTTL %d: the BFD engine does not check the TTL of received packets; minimumTTL has no effect", *ttl))
	}
	return ignored
}

// bfdOf returns the BFD settings of the profile a peer names; no name
// means no BFD.
func bfdOf(name string, profiles map[string]*v1alpha1.BFDProfile) (*bgp.BFD, error) {
	if name == "" {
		return nil, nil
	}
	profile, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("spec.bfdProfile: BFDProfile %q not found", name)
	}
	return BFD(&profile.Spec), nil
}
