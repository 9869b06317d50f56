package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/testenv"
)

var k8sClient client.Client

func TestMain(m *testing.M) {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8sClient, err = client.New(env.Config, client.Options{})
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop API server:", err)
	}
	os.Exit(code)
}

// object builds an unstructured object from YAML, so that tests can send
// values the Go types could never hold.
func object(t *testing.T, kind, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var specMap map[string]any
	if err := yaml.Unmarshal([]byte(spec), &specMap); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": specMap}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind(kind)
	u.SetName(name)
	return u
}

func TestInvalidObjectsAreRefusedWithAReadableMessage(t *testing.T) {
	peer := "myASN: 64512\npeerASN: 64500\npeerAddress: 198.18.0.1\n"
	tests := []struct {
		name, kind, spec string
		message          string
	}{
		{"a pool without addresses", "IPPool", "addresses: []", "spec.addresses"},
		{"a pool address that is not an address", "IPPool", "addresses: [not-an-ip]", "must be a CIDR such as 203.0.113.0/24"},
		{"a pool CIDR with host bits set", "IPPool", "addresses: [203.0.113.1/24]", "a CIDR must not have host bits set"},
		{"a pool range mixing IPv4 and IPv6", "IPPool", "addresses: [203.0.113.1-2001:db8:100::1]", "both ends of a range must be of one IP family"},
		{"a pool range with three ends", "IPPool", "addresses: [203.0.113.1-203.0.113.2-203.0.113.3]", "must be a CIDR such as"},
		{"a pool priority below one", "IPPool", "addresses: [203.0.113.0/24]\nserviceAllocation: {priority: -1}", "priority"},
		{"avoidBuggyIPs on an IPv6-only pool", "IPPool", "addresses: ['2001:db8:100::/64']\navoidBuggyIPs: true", "avoidBuggyIPs applies to IPv4 only"},
		{"a peer ASN of zero", "BGPPeer", "myASN: 0\npeerASN: 64500\npeerAddress: 198.18.0.1", "spec.myASN"},
		{"a peer ASN beyond four bytes", "BGPPeer", "myASN: 64512\npeerASN: 4294967296\npeerAddress: 198.18.0.1", "spec.peerASN"},
		{"a peer address that is a host name", "BGPPeer", "myASN: 64512\npeerASN: 64500\npeerAddress: router1", "must be an IPv4 or IPv6 address"},
		{"a peer port of zero", "BGPPeer", peer + "peerPort: 0", "spec.peerPort"},
		{"a hold time of two seconds", "BGPPeer", peer + "holdTime: 2s", "holdTime must be 0s or between 3s and 65535s"},
		{"a keepalive as long as the hold time", "BGPPeer", peer + "holdTime: 9s\nkeepaliveTime: 9s", "keepaliveTime must be shorter than holdTime"},
		{"eBGP multihop on an iBGP peer", "BGPPeer", "myASN: 64512\npeerASN: 64512\npeerAddress: 198.18.0.1\nebgpMultiHop: 2", "ebgpMultiHop applies only to eBGP peers"},
		{"an IPv6 router ID", "BGPPeer", peer + "routerID: '2001:db8:1::2'", "routerID"},
		{"a source address of the other family", "BGPPeer", peer + "sourceAddress: '2001:db8:1::2'", "sourceAddress must be of the same IP family as peerAddress"},
		{"a graceful restart time beyond RFC 4724", "BGPPeer", peer + "gracefulRestart: {restartTime: 5000s}", "restartTime must be between 1s and 4095s"},
		{"a password secret without a name", "BGPPeer", peer + "passwordSecret: {namespace: bgplb-system}", "spec.passwordSecret.name"},
		{"a drain time of zero", "BGPPeer", peer + "drainTime: 0s", "spec.drainTime: Invalid value: \"0s\": drainTime must be greater than zero"},
		{"a drain time that is no duration", "BGPPeer", peer + "drainTime: soon", "spec.drainTime"},
		{"a negative drain time", "BGPPeer", peer + "drainTime: -5s", "spec.drainTime: Invalid value: \"-5s\": drainTime must be greater than zero"},
		{"a standard community beyond 16 bits", "BGPAdvertisement", "communities: ['65536:1']", "must be a standard community a:b (each 0-65535)"},
		{"a community that is a word", "BGPAdvertisement", "communities: [gold]", "must be a standard community"},
		{"a large community beyond 32 bits", "BGPAdvertisement", "communities: ['1:2:4294967296']", "must be a standard community"},
		{"an IPv4 aggregation length of 33", "BGPAdvertisement", "aggregationLength: 33", "spec.aggregationLength"},
		{"an IPv6 aggregation length of 129", "BGPAdvertisement", "aggregationLengthV6: 129", "spec.aggregationLengthV6"},
		{"a negative local preference", "BGPAdvertisement", "localPref: -1", "spec.localPref"},
		{"an AS path prepend of zero copies", "BGPAdvertisement", "asPathPrepend: {count: 0}", "spec.asPathPrepend.count"},
		{"a BFD receive interval of 5 ms", "BFDProfile", "receiveInterval: 5", "spec.receiveInterval"},
		{"a BFD detect multiplier of one", "BFDProfile", "detectMultiplier: 1", "spec.detectMultiplier"},
		{"a BFD minimum TTL of 255", "BFDProfile", "minimumTTL: 255", "spec.minimumTTL"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, tt.kind, fmt.Sprintf("invalid-%d", i), tt.spec)
			err := k8sClient.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("the API server accepted %s %s", tt.kind, tt.spec)
			}
			if !strings.Contains(err.Error(), "Invalid value") && !strings.Contains(err.Error(), "Unsupported value") && !strings.Contains(err.Error(), "Required value") {
				t.Errorf("refused for an unexpected reason: %v", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not mention %q", err.Error(), tt.message)
			}
		})
	}
}

func TestValidObjectsAreAcceptedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, kind, spec string
		defaults         map[string]string // JSON path (dotted) to the expected value
	}{
		{"a dual-stack pool with a CIDR and a range", "IPPool",
			"addresses: [203.0.113.0/24, '2001:db8:100::10 - 2001:db8:100::20', 198.51.100.5-198.51.100.9]",
			map[string]string{"spec.autoAssign": "true"}},
		{"an eBGP peer with defaults", "BGPPeer",
			"myASN: 4200000000\npeerASN: 64500\npeerAddress: '2001:db8:1::1'\nholdTime: 9s\nkeepaliveTime: 3s\nebgpMultiHop: 2",
			map[string]string{"spec.peerPort": "179", "spec.connectTime": "10s", "spec.gracefulRestart.enabled": "true", "spec.gracefulRestart.restartTime": "120s", "spec.drainTime": "30s"}},
		{"an iBGP peer with a drain time", "BGPPeer",
			"myASN: 64512\npeerASN: 64512\npeerAddress: 198.18.0.1\ndrainTime: 2m30s",
			map[string]string{"spec.drainTime": "2m30s"}},
		{"an advertisement with every kind of community", "BGPAdvertisement",
			"communities: ['65000:100', '4200000000:1:2', no-export]\nlocalPref: 200\nmed: 4294967295",
			map[string]string{"spec.aggregationLength": "32", "spec.aggregationLengthV6": "128", "spec.drainOnCordon": "false"}},
		{"an advertisement that drains on cordon", "BGPAdvertisement",
			"drainOnCordon: true\npeers: [router1]",
			map[string]string{"spec.drainOnCordon": "true"}},
		{"a BFD profile with defaults", "BFDProfile", "passiveMode: true",
			map[string]string{"spec.receiveInterval": "300", "spec.transmitInterval": "300", "spec.detectMultiplier": "3", "spec.minimumTTL": "254"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, tt.kind, fmt.Sprintf("valid-%d", i), tt.spec)
			if err := k8sClient.Create(ctx, obj); err != nil {
				t.Fatalf("refused: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(ctx, obj) })
			for path, want := range tt.defaults {
				got, found, err := unstructured.NestedFieldNoCopy(obj.Object, strings.Split(path, ".")...)
				if err != nil || !found {
					t.Errorf("%s not set", path)
					continue
				}
				if fmt.Sprint(got) != want {
					t.Errorf("%s = %v, want %s", path, got, want)
				}
			}
		})
	}
}
