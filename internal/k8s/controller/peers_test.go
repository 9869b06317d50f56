package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/controller"
	"github.com/bgplb/bgplb/internal/testpoll"
)

// speakerNamespace is the controller's default namespace of the speakers,
// which TestMain creates.
const speakerNamespace = "bgplb-system"

func peerSpec() v1alpha1.BGPPeerSpec {
	return v1alpha1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "198.18.0.1"}
}

func createPeer(t *testing.T, name string, spec v1alpha1.BGPPeerSpec) {
	t.Helper()
	p := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), p); err != nil {
		t.Fatalf("create peer %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
}

func createProfile(t *testing.T, name string, spec v1alpha1.BFDProfileSpec) {
	t.Helper()
	p := &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), p); err != nil {
		t.Fatalf("create BFD profile %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
}

func createSecret(t *testing.T, name string, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: name}, Data: data}
	if err := k8sClient.Create(context.Background(), s); err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), s) })
}

// update applies change to the newest version of obj, retrying when the
// controller's status writes race with it.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8sClient.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("update %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitForConfigCondition waits until the object's current generation has
// been observed and the condition shows the status and reason with a
// message containing every fragment; obj holds the object as last read, and
// statusOf returns its status.
func waitForConfigCondition(t *testing.T, obj client.Object, statusOf func() v1alpha1.ConfigStatus, condType string, status metav1.ConditionStatus, reason string, fragments ...string) {
	t.Helper()
	name := obj.GetName()
	what := fmt.Sprintf("%T %s shows %s=%s with reason %s mentioning %q", obj, name, condType, status, reason, fragments)
	testpoll.Until(t, 20*time.Second, what, func() (bool, string) {
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, obj); err != nil {
			return false, err.Error()
		}
		st := statusOf()
		c := meta.FindStatusCondition(st.Conditions, condType)
		seen := fmt.Sprintf("generation %d, observed %d, %s", obj.GetGeneration(), st.ObservedGeneration, showCondition(c))
		if c == nil || st.ObservedGeneration != obj.GetGeneration() || c.ObservedGeneration != obj.GetGeneration() ||
			c.Status != status || c.Reason != reason {
			return false, seen
		}
		for _, f := range fragments {
			if !strings.Contains(c.Message, f) {
				return false, seen
			}
		}
		return true, ""
	})
}

func waitForPeerCondition(t *testing.T, name string, status metav1.ConditionStatus, reason string, fragments ...string) *v1alpha1.BGPPeer {
	t.Helper()
	p := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}}
	waitForConfigCondition(t, p, func() v1alpha1.ConfigStatus { return p.Status }, v1alpha1.ConditionAccepted, status, reason, fragments...)
	return p
}

func waitForProfileCondition(t *testing.T, name, condType string, status metav1.ConditionStatus, reason string, fragments ...string) *v1alpha1.BFDProfile {
	t.Helper()
	p := &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	waitForConfigCondition(t, p, func() v1alpha1.ConfigStatus { return p.Status }, condType, status, reason, fragments...)
	return p
}

const keepUsing = "the speakers keep using the last valid version of this peer"

func TestAValidPeerIsAcceptedWithItsObservedGeneration(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	spec := peerSpec()
	spec.RouterID = "198.18.0.10"
	spec.SourceAddress = "198.18.0.10"
	spec.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "bgplb.io/speaker", Operator: metav1.LabelSelectorOpExists},
	}}}
	createPeer(t, name, spec)
	waitForPeerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonAccepted, "the speakers use this peer")

	update(t, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(p *v1alpha1.BGPPeer) { p.Spec.PeerPort = 1790 })
	p := waitForPeerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	if p.Generation < 2 {
		t.Errorf("generation after an edit = %d, want at least 2", p.Generation)
	}
}

// The CRD does not check selector operators, so only the controller can
// tell the operator that the speakers refuse such a peer.
func TestABadNodeSelectorIsRefusedNamingTheSelector(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	spec := peerSpec()
	spec.NodeSelectors = []metav1.LabelSelector{
		{MatchLabels: map[string]string{"rack": "a"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Sometimes"}}},
	}
	createPeer(t, name, spec)
	waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid, "spec.nodeSelectors[1]", "Sometimes", keepUsing)
}

func TestAnUnknownBFDProfileIsRefusedUntilTheProfileIsCreated(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	profile := name + "-fast"
	spec := peerSpec()
	spec.BFDProfile = profile
	createPeer(t, name, spec)
	waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid, "spec.bfdProfile", `"`+profile+`"`, keepUsing)

	createProfile(t, profile, v1alpha1.BFDProfileSpec{})
	waitForPeerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
}

// Each step of setting up a password shows in the condition, and the
// password itself never does.
func TestAPasswordSecretIsCheckedStepByStepWithoutShowingThePassword(t *testing.T) {
	startController(t, controller.Options{CheckPasswordSecrets: true})
	ns := namespace(t, nil)
	name := ns
	secret := name + "-md5"
	password := "correct-horse-" + name
	noPassword := func(p *v1alpha1.BGPPeer) {
		t.Helper()
		for _, c := range p.Status.Conditions {
			if strings.Contains(c.Message, password) || strings.Contains(c.Reason, password) {
				t.Fatalf("condition %s shows the password: %s", c.Type, c.Message)
			}
		}
	}

	// A Secret outside the speakers' namespace is never read.
	spec := peerSpec()
	spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: ns, Name: secret}
	createPeer(t, name, spec)
	waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.passwordSecret.namespace", `"`+speakerNamespace+`"`, `"`+ns+`"`, keepUsing)

	update(t, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(p *v1alpha1.BGPPeer) {
		p.Spec.PasswordSecret.Namespace = speakerNamespace
	})
	waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.passwordSecret", `"`+speakerNamespace+"/"+secret+`"`, "not found", keepUsing)

	createSecret(t, secret, map[string][]byte{"username": []byte("bgplb")})
	noPassword(waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid,
		"spec.passwordSecret.key", `"`+speakerNamespace+"/"+secret+`"`, `"password"`, keepUsing))

	update(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: secret}}, func(s *corev1.Secret) {
		s.Data["password"] = []byte(password)
	})
	noPassword(waitForPeerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonAccepted, "the speakers use this peer"))

	// An empty value is no password: the speakers refuse it as well.
	update(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: secret}}, func(s *corev1.Secret) {
		s.Data["password"] = []byte{}
	})
	noPassword(waitForPeerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonInvalid, "spec.passwordSecret.key", `"password"`))
}

// Without CheckPasswordSecrets the controller reads no Secret: a peer whose
// Secret is missing is accepted, since only the speakers can tell, but a
// Secret outside the speakers' namespace is still refused.
func TestWithoutSecretChecksOnlyThePasswordSecretsNamespaceIsChecked(t *testing.T) {
	startController(t, controller.Options{})
	ns := namespace(t, nil)
	spec := peerSpec()
	spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: ns, Name: "absent"}
	createPeer(t, ns, spec)
	waitForPeerCondition(t, ns, metav1.ConditionFalse, v1alpha1.ReasonInvalid, "spec.passwordSecret.namespace", `"`+ns+`"`)
	update(t, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(p *v1alpha1.BGPPeer) {
		p.Spec.PasswordSecret.Namespace = speakerNamespace
	})
	waitForPeerCondition(t, ns, metav1.ConditionTrue, v1alpha1.ReasonAccepted, "the speakers use this peer")
}

func TestABFDProfileWithFieldsTheEngineIgnoresIsAcceptedButNotSupported(t *testing.T) {
	startController(t, controller.Options{})
	name := namespace(t, nil)
	createProfile(t, name, v1alpha1.BFDProfileSpec{PassiveMode: true})
	waitForProfileCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	p := waitForProfileCondition(t, name, v1alpha1.ConditionSupported, metav1.ConditionFalse, v1alpha1.ReasonUnsupported,
		"spec.passiveMode", "no passive mode")
	// Every stored profile has the API server's default minimumTTL, which
	// is not the operator's doing and is not reported.
	if p.Spec.MinimumTTL == nil || *p.Spec.MinimumTTL != 254 {
		t.Errorf("minimumTTL = %v, want the default 254", p.Spec.MinimumTTL)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionSupported); strings.Contains(c.Message, "minimumTTL") {
		t.Errorf("the default minimumTTL is reported: %s", c.Message)
	}

	update(t, &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(p *v1alpha1.BFDProfile) {
		p.Spec.MinimumTTL = ptrTo[int32](200)
	})
	waitForProfileCondition(t, name, v1alpha1.ConditionSupported, metav1.ConditionFalse, v1alpha1.ReasonUnsupported,
		"spec.passiveMode", "spec.minimumTTL 200", "does not check the TTL")

	update(t, &v1alpha1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(p *v1alpha1.BFDProfile) {
		p.Spec.PassiveMode = false
		p.Spec.MinimumTTL = nil // the API server restores the default
	})
	waitForProfileCondition(t, name, v1alpha1.ConditionSupported, metav1.ConditionTrue, v1alpha1.ReasonSupported)
	waitForProfileCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
}

// In a steady state the controller writes nothing: passes woken by other
// peers, profiles and Secret keys leave a settled peer and profile alone.
func TestSettledPeerAndProfileConditionsAreNotWrittenAgain(t *testing.T) {
	ns := namespace(t, nil)
	name := ns
	secret := name + "-md5"
	// The peer and the profile share the name, so the writes to either's
	// status are counted; names are unique to this test.
	writes := startControllerCountingWrites(t, "/"+name+"/status")
	createSecret(t, secret, map[string][]byte{"password": []byte("correct-horse-" + name)})
	createProfile(t, name, v1alpha1.BFDProfileSpec{PassiveMode: true})
	spec := peerSpec()
	spec.BFDProfile = name
	spec.PasswordSecret = &v1alpha1.SecretKeyReference{Namespace: speakerNamespace, Name: secret}
	createPeer(t, name, spec)
	settledPeer := waitForPeerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	waitForProfileCondition(t, name, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	settledProfile := waitForProfileCondition(t, name, v1alpha1.ConditionSupported, metav1.ConditionFalse, v1alpha1.ReasonUnsupported)
	settledWrites := writes.Load()

	touches := []func(i int){
		// A key that the peer does not read.
		func(i int) {
			update(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: secret}}, func(s *corev1.Secret) {
				s.Data[fmt.Sprintf("note-%d", i)] = []byte("x")
			})
		},
		// A new value for the key the peer reads.
		func(i int) {
			update(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: speakerNamespace, Name: secret}}, func(s *corev1.Secret) {
				s.Data["password"] = []byte(fmt.Sprintf("battery-staple-%d", i))
			})
		},
		// Another profile.
		func(i int) { createProfile(t, fmt.Sprintf("%s-p%d", name, i), v1alpha1.BFDProfileSpec{}) },
	}
	for i := range 6 {
		touches[i%len(touches)](i)
		// The pass that handles a peer created after the touch also sees
		// the touch; once the new peer shows its condition, that pass has
		// run.
		witness := fmt.Sprintf("%s-w%d", name, i)
		createPeer(t, witness, peerSpec())
		waitForPeerCondition(t, witness, metav1.ConditionTrue, v1alpha1.ReasonAccepted)

		var peer v1alpha1.BGPPeer
		var profile v1alpha1.BFDProfile
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &peer); err != nil {
			t.Fatal(err)
		}
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, &profile); err != nil {
			t.Fatal(err)
		}
		if peer.ResourceVersion != settledPeer.ResourceVersion {
			t.Fatalf("after pass %d the settled peer was written again: conditions %v", i, peer.Status.Conditions)
		}
		if profile.ResourceVersion != settledProfile.ResourceVersion {
			t.Fatalf("after pass %d the settled profile was written again: conditions %v", i, profile.Status.Conditions)
		}
		if n := writes.Load(); n != settledWrites {
			t.Fatalf("after pass %d the controller had sent %d status writes of the settled peer and profile, %d when they settled", i, n, settledWrites)
		}
	}
}
