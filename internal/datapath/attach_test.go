//go:build linux

package datapath

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func attachedAtIngress(t *testing.T, ifindex int) int {
	t.Helper()
	result, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	return len(result.Programs)
}

func TestAttachNamesTheInterfaceAndCloseDetaches(t *testing.T) {
	inNetns(t, newNetns(t, "node"), func() {
		d, err := Load(Config{Node: 1, BucketCount: 13, TunnelIfindex: testTunnelIfindex, TunnelMAC: testTunnelMAC})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		err = d.AttachUplink(4242)
		if want := `attach to "interface 4242"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("attaching to a missing interface: error %v, want one containing %q", err, want)
		}
		loopback := interfaceIndex(t, "lo")
		if err := d.AttachUplink(loopback); err != nil {
			t.Fatal(err)
		}
		if err := d.AttachTunnel(loopback); err != nil {
			t.Fatal(err)
		}
		if n := attachedAtIngress(t, loopback); n != 2 {
			t.Fatalf("%d programs at lo's ingress, want the uplink and the tunnel program", n)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if n := attachedAtIngress(t, loopback); n != 0 {
			t.Errorf("%d programs at lo's ingress after Close, want none", n)
		}
	})
}
