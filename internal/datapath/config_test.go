//go:build linux

package datapath

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestLoadRejectsAConfigThatCannotWork(t *testing.T) {
	valid := Config{Node: 1, BucketCount: 13, TunnelIfindex: 1, TunnelMAC: testTunnelMAC}
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Node = 0 }, "node ID 0 is not between 1 and 8191"},
		{func(c *Config) { c.Node = MaxNodes }, "node ID 8192 is not between 1 and 8191"},
		{func(c *Config) { c.BucketCount = 0 }, "bucket count 0 is not between 1 and 65536"},
		{func(c *Config) { c.BucketCount = MaxBuckets + 1 }, "bucket count 65537 is not between 1 and 65536"},
		{func(c *Config) { c.TunnelIfindex = 0 }, "tunnel interface index 0 is not a valid index"},
		{func(c *Config) { c.TunnelMAC = net.HardwareAddr{1, 2, 3} }, `tunnel MAC "01:02:03" is not a 6-byte MAC address`},
	} {
		config := valid
		tc.change(&config)
		d, err := Load(config)
		if err == nil {
			d.Close()
			t.Errorf("Load(%+v) succeeded, want error %q", config, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Load(%+v) = %q, want %q", config, err, tc.want)
		}
	}
}

func TestMapUpdatesRejectWhatTheProgramCannotUse(t *testing.T) {
	d := loadForTest(t, 1, 13)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"node 0", d.SetNode(0, clientV4), "node ID 0 is not between 1 and 8191"},
		{"invalid underlay", d.SetNode(2, netip.Addr{}), `node 2: underlay address "invalid IP" is not an address without zone`},
		{"underlay with zone", d.SetNode(2, netip.MustParseAddr("fe80::1%eth0")), `node 2: underlay address "fe80::1%eth0" is not an address without zone`},
		{"short table", d.SetTable(1, make([]Owners, 12)), "table 1 has 12 buckets, want 13"},
		{"table ID", d.SetTable(DefaultMaxTables, make([]Owners, 13)), "table ID 1024 is not below 1024"},
		{"owner ID", d.SetTable(1, uniformTable(13, Owners{Primary: 2, Secondary: MaxNodes})), "table 1, bucket 0: node ID 8192 is not below 8192"},
		{"service address", d.SetService(netip.Addr{}, 1), `service address "invalid IP" is not an address without zone`},
		{"service table", d.SetService(serviceV4, DefaultMaxTables), "service 192.0.2.10: table ID 1024 is not below 1024"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

// Deleting what is not there is not an error, so that a caller can make
// the maps match its state without tracking what it wrote before.
func TestDeletingWhatIsAbsentSucceeds(t *testing.T) {
	d := loadForTest(t, 1, 13)
	if err := d.DeleteService(serviceV6); err != nil {
		t.Error(err)
	}
	if err := d.DeleteTable(3); err != nil {
		t.Error(err)
	}
	if err := d.DeleteNode(3); err != nil {
		t.Error(err)
	}
}
