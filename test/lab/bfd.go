package lab

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BFDRouter is a lab router that runs BFD (Config.BFD): FRR and BIRD.
type BFDRouter interface {
	// BFDSessions returns the router's BFD sessions.
	BFDSessions() ([]BFDSession, error)
}

// BFDSession is one BFD session as the router sees it.
type BFDSession struct {
	// Peer is the neighbour's address.
	Peer string
	Up   bool
	// TransmitInterval is how often the router sends control packets, and
	// DetectionTime how long it waits for one before it declares the
	// session down. Both are negotiated (RFC 5880 6.8.2, 6.8.4) from the
	// router's timers and those the node announced, so a node that
	// announces slower timers than the router's shows here.
	TransmitInterval, DetectionTime time.Duration
}

// BFDSessions returns FRR's BFD sessions with the timers negotiated from
// bfdd's own and the node's.
func (f *FRR) BFDSessions() ([]BFDSession, error) {
	peers, err := f.BFDPeers()
	if err != nil {
		return nil, err
	}
	sessions := make([]BFDSession, 0, len(peers))
	for _, p := range peers {
		ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
		sessions = append(sessions, BFDSession{
			Peer:             p.Peer,
			Up:               p.Status == "up",
			TransmitInterval: ms(max(p.TransmitInterval, p.RemoteReceiveInterval)),
			DetectionTime:    ms(p.RemoteDetectMultiplier * max(p.ReceiveInterval, p.RemoteTransmitInterval)),
		})
	}
	return sessions, nil
}

// BFDSessions returns BIRD's BFD sessions from "show bfd sessions".
func (b *BIRD) BFDSessions() ([]BFDSession, error) {
	out, err := b.Birdc("show bfd sessions")
	if err != nil {
		return nil, err
	}
	sessions, err := parseBIRDBFDSessions(out)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	return sessions, nil
}

// parseBIRDBFDSessions reads BIRD 2's "show bfd sessions": per BFD
// protocol a line with its name and a header, then one line per session
// like
//
//	198.18.0.10               lan        Up         14:28:58.263    0.100    0.300
//
// whose last two fields are the negotiated transmit interval and the
// detection time in seconds.
func parseBIRDBFDSessions(out string) ([]BFDSession, error) {
	sessions := []BFDSession{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasSuffix(line, ":") || strings.HasPrefix(line, "IP address") {
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("session line %q has %d fields, want 6", line, len(f))
		}
		interval, err := birdSeconds(f[4])
		if err != nil {
			return nil, fmt.Errorf("session line %q: interval: %w", line, err)
		}
		timeout, err := birdSeconds(f[5])
		if err != nil {
			return nil, fmt.Errorf("session line %q: timeout: %w", line, err)
		}
		sessions = append(sessions, BFDSession{Peer: f[0], Up: f[2] == "Up", TransmitInterval: interval, DetectionTime: timeout})
	}
	return sessions, nil
}

// birdSeconds reads a duration BIRD prints in seconds with a fraction,
// such as "0.100".
func birdSeconds(s string) (time.Duration, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond), nil
}
