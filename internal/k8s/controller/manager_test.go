package controller

// Tests of the manager's options on plain values, without an API server.

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

func TestOptionsWithDefaults(t *testing.T) {
	t.Run("unset options take their defaults", func(t *testing.T) {
		opts := Options{}.withDefaults()
		if opts.LeaderElectionID != "bgplb-controller" || opts.HealthAddr != "0" || opts.SpeakerNamespace != "bgplb-system" {
			t.Errorf("defaults = lease %q, health %q, speaker namespace %q; want bgplb-controller, 0, bgplb-system",
				opts.LeaderElectionID, opts.HealthAddr, opts.SpeakerNamespace)
		}
		if opts.Logger == nil || opts.MetricsRegistry == nil {
			t.Errorf("logger %v, metrics registry %v; want both set", opts.Logger, opts.MetricsRegistry)
		}
	})
	t.Run("set options are kept", func(t *testing.T) {
		opts := Options{LeaderElectionID: "lease", HealthAddr: ":8081", SpeakerNamespace: "lb"}.withDefaults()
		if opts.LeaderElectionID != "lease" || opts.HealthAddr != ":8081" || opts.SpeakerNamespace != "lb" {
			t.Errorf("options = lease %q, health %q, speaker namespace %q; want lease, :8081, lb",
				opts.LeaderElectionID, opts.HealthAddr, opts.SpeakerNamespace)
		}
	})
}

func TestManagerOptions(t *testing.T) {
	t.Run("without the password check no Secret is cached", func(t *testing.T) {
		mopts := mustManagerOptions(t, Options{})
		if len(mopts.Cache.ByObject) != 0 {
			t.Errorf("cache by object = %v, want none", mopts.Cache.ByObject)
		}
	})
	t.Run("with the password check only the speakers' Secrets are cached, without their values", func(t *testing.T) {
		mopts := mustManagerOptions(t, Options{CheckPasswordSecrets: true, SpeakerNamespace: "lb"})
		secrets := secretCache(t, mopts.Cache)
		if len(secrets.Namespaces) != 1 {
			t.Errorf("Secrets are cached in %v, want only lb", secrets.Namespaces)
		}
		if _, ok := secrets.Namespaces["lb"]; !ok {
			t.Errorf("Secrets are cached in %v, want lb", secrets.Namespaces)
		}
		if secrets.Transform == nil {
			t.Fatal("Secrets are cached without a transform, with their values")
		}
		out, err := secrets.Transform(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Data: map[string][]byte{"password": []byte("hunter2")}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out.(*corev1.Secret).Data["password"]); got == "hunter2" {
			t.Errorf("the cached Secret keeps its password")
		}
	})
	t.Run("unset leader election timings keep controller-runtime's defaults", func(t *testing.T) {
		mopts := mustManagerOptions(t, Options{LeaderElection: true})
		if mopts.LeaseDuration != nil || mopts.RenewDeadline != nil || mopts.RetryPeriod != nil {
			t.Errorf("lease %v, renew %v, retry %v; want all nil", mopts.LeaseDuration, mopts.RenewDeadline, mopts.RetryPeriod)
		}
	})
	t.Run("set leader election timings are passed on", func(t *testing.T) {
		mopts := mustManagerOptions(t, Options{LeaderElection: true, LeaseDuration: 30 * time.Second, RenewDeadline: 20 * time.Second, RetryPeriod: 5 * time.Second})
		if mopts.LeaseDuration == nil || *mopts.LeaseDuration != 30*time.Second ||
			mopts.RenewDeadline == nil || *mopts.RenewDeadline != 20*time.Second ||
			mopts.RetryPeriod == nil || *mopts.RetryPeriod != 5*time.Second {
			t.Errorf("lease %v, renew %v, retry %v; want 30s, 20s, 5s", mopts.LeaseDuration, mopts.RenewDeadline, mopts.RetryPeriod)
		}
		if !mopts.LeaderElection || mopts.LeaderElectionID != "bgplb-controller" || !mopts.LeaderElectionReleaseOnCancel {
			t.Errorf("leader election %v, id %q, release on cancel %v; want true, bgplb-controller, true",
				mopts.LeaderElection, mopts.LeaderElectionID, mopts.LeaderElectionReleaseOnCancel)
		}
	})
}

func TestNewPreflight(t *testing.T) {
	if p := newPreflight(Options{}.withDefaults()); p != nil {
		t.Errorf("without CheckPermissions the preflight is %v, want none", p)
	}
	opts := Options{CheckPermissions: true, PermissionRecheck: 7 * time.Second}.withDefaults()
	p := newPreflight(opts)
	if p == nil {
		t.Fatal("with CheckPermissions there is no preflight")
	}
	if p.Logger != opts.Logger || p.MaxInterval != 7*time.Second {
		t.Errorf("preflight logs to %v and rechecks within %v; want the options' logger and 7s", p.Logger, p.MaxInterval)
	}
}

func mustManagerOptions(t *testing.T, opts Options) manager.Options {
	t.Helper()
	mopts, err := managerOptions(opts.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return mopts
}

// secretCache returns how the cache of opts caches Secrets.
func secretCache(t *testing.T, opts cache.Options) cache.ByObject {
	t.Helper()
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			return by
		}
	}
	t.Fatalf("Secrets are not cached on their own terms: %v", opts.ByObject)
	return cache.ByObject{}
}
