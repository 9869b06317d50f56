package gobgp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/bgplb/bgplb/internal/bgp"
)

// These tests cover the translation to GoBGP and the validation, without a
// network.

func validPeer() bgp.Peer {
	return bgp.Peer{
		Name:        "tor",
		Address:     netip.MustParseAddr("198.18.0.1"),
		LocalASN:    64512,
		PeerASN:     64501,
		RouterID:    netip.MustParseAddr("198.18.0.2"),
		NextHopIPv4: netip.MustParseAddr("198.18.0.2"),
		NextHopIPv6: netip.MustParseAddr("2001:db8:1::2"),
	}
}

func withPeer(f func(*bgp.Peer)) bgp.Peer {
	p := validPeer()
	f(&p)
	return p
}

func TestPeerConfig(t *testing.T) {
	t.Run("zero timers become bgplb's defaults, not GoBGP's 120 s connect retry", func(t *testing.T) {
		n := peerConfig(validPeer())
		c := n.Timers.Config
		if c.ConnectRetry != 5 || c.HoldTime != 90 || c.KeepaliveInterval != 30 {
			t.Errorf("timers = %+v, want connect retry 5, hold 90, keepalive 30", c)
		}
	})
	t.Run("timers are rounded up to whole seconds", func(t *testing.T) {
		n := peerConfig(withPeer(func(p *bgp.Peer) {
			p.HoldTime, p.KeepaliveTime, p.ConnectRetry = 3*time.Second, 500*time.Millisecond, 1500*time.Millisecond
		}))
		c := n.Timers.Config
		if c.ConnectRetry != 2 || c.HoldTime != 3 || c.KeepaliveInterval != 1 {
			t.Errorf("timers = %+v, want connect retry 2, hold 3, keepalive 1", c)
		}
	})
	t.Run("every setting reaches the neighbor", func(t *testing.T) {
		p := withPeer(func(p *bgp.Peer) {
			p.Port = 1179
			p.SourceAddress = netip.MustParseAddr("198.18.0.2")
			p.EBGPMultihopTTL = 4
			p.Password = "md5"
			p.GracefulRestart = bgp.GracefulRestart{Enabled: true, RestartTime: 120 * time.Second}
		})
		n := peerConfig(p)
		if n.Conf.NeighborAddress != "198.18.0.1" || n.Conf.PeerAsn != 64501 || n.Conf.LocalAsn != 64512 || n.Conf.AuthPassword != "md5" {
			t.Errorf("conf = %+v", n.Conf)
		}
		if n.Transport.RemotePort != 1179 || n.Transport.LocalAddress != "198.18.0.2" {
			t.Errorf("transport = %+v", n.Transport)
		}
		if n.EbgpMultihop == nil || !n.EbgpMultihop.Enabled || n.EbgpMultihop.MultihopTtl != 4 {
			t.Errorf("multihop = %+v", n.EbgpMultihop)
		}
		if n.GracefulRestart == nil || !n.GracefulRestart.Enabled || n.GracefulRestart.RestartTime != 120 {
			t.Errorf("graceful restart = %+v", n.GracefulRestart)
		}
		if len(n.AfiSafis) != 2 {
			t.Fatalf("%d address families, want 2", len(n.AfiSafis))
		}
		for _, as := range n.AfiSafis {
			if as.MpGracefulRestart == nil || !as.MpGracefulRestart.Config.Enabled {
				t.Errorf("address family %v has no graceful restart", as.Config.Family)
			}
		}
	})
	t.Run("only families with a next hop are negotiated", func(t *testing.T) {
		n := peerConfig(withPeer(func(p *bgp.Peer) { p.NextHopIPv4 = netip.Addr{} }))
		if len(n.AfiSafis) != 1 || n.AfiSafis[0].Config.Family.Afi != api.Family_AFI_IP6 {
			t.Errorf("address families = %v, want IPv6 unicast only", n.AfiSafis)
		}
		if n.GracefulRestart != nil || n.AfiSafis[0].MpGracefulRestart != nil {
			t.Error("graceful restart is configured although it is disabled")
		}
	})
}

func TestAPIPath(t *testing.T) {
	peer := validPeer()
	med, pref := uint32(5), uint32(200)
	t.Run("a weight is sent as link bandwidth in proportion, with AS_TRANS for a 4-byte ASN", func(t *testing.T) {
		for _, tc := range []struct {
			localASN uint32
			wantAS   uint16
		}{{64512, 64512}, {4200000000, asTrans}} {
			p, err := apiPath(withPeer(func(p *bgp.Peer) { p.LocalASN = tc.localASN }),
				bgp.Path{Prefix: netip.MustParsePrefix("203.0.113.10/32"), Weight: 3})
			if err != nil {
				t.Fatal(err)
			}
			var lb *gobgp.LinkBandwidthExtended
			for _, a := range p.Attrs {
				if ext, ok := a.(*gobgp.PathAttributeExtendedCommunities); ok {
					for _, c := range ext.Value {
						lb, _ = c.(*gobgp.LinkBandwidthExtended)
					}
				}
			}
			if lb == nil || lb.AS != tc.wantAS || lb.Bandwidth != 3*1e6/8 {
				t.Errorf("local ASN %d: link bandwidth %+v, want AS %d and 3 units", tc.localASN, lb, tc.wantAS)
			}
		}
		p, err := apiPath(peer, bgp.Path{Prefix: netip.MustParsePrefix("203.0.113.10/32")})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Attrs {
			if a.GetType() == gobgp.BGP_ATTR_TYPE_EXTENDED_COMMUNITIES {
				t.Errorf("an unweighted path carries extended communities: %v", a)
			}
		}
	})
	t.Run("an IPv4 path carries NEXT_HOP and every attribute that is set", func(t *testing.T) {
		p, err := apiPath(peer, bgp.Path{
			Prefix:           netip.MustParsePrefix("203.0.113.10/32"),
			Communities:      []uint32{64512<<16 | 100},
			LargeCommunities: []bgp.LargeCommunity{{Global: 64512, Local1: 1, Local2: 2}},
			LocalPref:        &pref,
			MED:              &med,
			ASPathPrepend:    []uint32{64512},
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.Family != gobgp.RF_IPv4_UC {
			t.Errorf("family = %v, want IPv4 unicast", p.Family)
		}
		got := map[gobgp.BGPAttrType]gobgp.PathAttributeInterface{}
		for _, a := range p.Attrs {
			got[a.GetType()] = a
		}
		if nh, ok := got[gobgp.BGP_ATTR_TYPE_NEXT_HOP].(*gobgp.PathAttributeNextHop); !ok || nh.Value != peer.NextHopIPv4 {
			t.Errorf("NEXT_HOP = %v, want %v", got[gobgp.BGP_ATTR_TYPE_NEXT_HOP], peer.NextHopIPv4)
		}
		if o, ok := got[gobgp.BGP_ATTR_TYPE_ORIGIN].(*gobgp.PathAttributeOrigin); !ok || o.Value != gobgp.BGP_ORIGIN_ATTR_TYPE_IGP {
			t.Errorf("ORIGIN = %v, want IGP", got[gobgp.BGP_ATTR_TYPE_ORIGIN])
		}
		for _, typ := range []gobgp.BGPAttrType{
			gobgp.BGP_ATTR_TYPE_AS_PATH, gobgp.BGP_ATTR_TYPE_MULTI_EXIT_DISC, gobgp.BGP_ATTR_TYPE_LOCAL_PREF,
			gobgp.BGP_ATTR_TYPE_COMMUNITIES, gobgp.BGP_ATTR_TYPE_LARGE_COMMUNITY,
		} {
			if got[typ] == nil {
				t.Errorf("attribute %v is missing", typ)
			}
		}
		if _, ok := got[gobgp.BGP_ATTR_TYPE_MP_REACH_NLRI]; ok {
			t.Error("an IPv4 path carries MP_REACH_NLRI")
		}
	})
	t.Run("an IPv6 path carries MP_REACH_NLRI with the IPv6 next hop and nothing unset", func(t *testing.T) {
		p, err := apiPath(peer, bgp.Path{Prefix: netip.MustParsePrefix("2001:db8:100::10/128")})
		if err != nil {
			t.Fatal(err)
		}
		if p.Family != gobgp.RF_IPv6_UC {
			t.Errorf("family = %v, want IPv6 unicast", p.Family)
		}
		var types []gobgp.BGPAttrType
		for _, a := range p.Attrs {
			types = append(types, a.GetType())
			if mp, ok := a.(*gobgp.PathAttributeMpReachNLRI); ok && mp.Nexthop != peer.NextHopIPv6 {
				t.Errorf("MP_REACH_NLRI next hop = %v, want %v", mp.Nexthop, peer.NextHopIPv6)
			}
		}
		want := []gobgp.BGPAttrType{gobgp.BGP_ATTR_TYPE_ORIGIN, gobgp.BGP_ATTR_TYPE_MP_REACH_NLRI, gobgp.BGP_ATTR_TYPE_AS_PATH}
		if len(types) != len(want) {
			t.Fatalf("attributes = %v, want %v", types, want)
		}
		for i := range want {
			if types[i] != want[i] {
				t.Errorf("attributes = %v, want %v", types, want)
			}
		}
	})
}
