package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// redactedValue stands for every value of a Secret in the controller's
// cache.
const redactedValue = "redacted"

// peerReconciler keeps the conditions of every BGPPeer and BFDProfile
// current in one level-triggered pass. A peer is Accepted unless the
// speakers would refuse it on every node; a profile is always Accepted,
// and Supported says whether the BFD engine honours all of its fields. It
// writes an object's status only when it changed, so a steady cluster sees
// no writes from it.
type peerReconciler struct {
	client client.Client
	// speakerNamespace is where the speakers read password Secrets; the
	// cache holds Secrets of this namespace only.
	speakerNamespace string
	// checkSecrets says whether the controller reads those Secrets.
	checkSecrets bool
	logger       *slog.Logger
	// conflicts counts the passes in a row that met write conflicts.
	conflicts conflictStreak
}

func newPeerReconciler(c client.Client, speakerNamespace string, checkSecrets bool, logger *slog.Logger) *peerReconciler {
	return &peerReconciler{client: c, speakerNamespace: speakerNamespace, checkSecrets: checkSecrets, logger: logger}
}

func (r *peerReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var profileList v1alpha1.BFDProfileList
	if err := r.client.List(ctx, &profileList); err != nil {
		return reconcile.Result{}, fmt.Errorf("list BFD profiles: %w", err)
	}
	var peerList v1alpha1.BGPPeerList
	if err := r.client.List(ctx, &peerList); err != nil {
		return reconcile.Result{}, fmt.Errorf("list peers: %w", err)
	}
	secrets, err := r.passwordSecrets(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	refs := translate.PeerReferences{SpeakerNamespace: r.speakerNamespace, Secrets: secrets,
		BFDProfiles: make(map[string]*v1alpha1.BFDProfile, len(profileList.Items))}
	for i := range profileList.Items {
		refs.BFDProfiles[profileList.Items[i].Name] = &profileList.Items[i]
	}

	var errs []error
	for i := range profileList.Items {
		p := &profileList.Items[i]
		errs = append(errs, writeConfigStatus(ctx, r.client, p, &p.Status, profileStatus(p)))
	}
	for i := range peerList.Items {
		p := &peerList.Items[i]
		errs = append(errs, writeConfigStatus(ctx, r.client, p, &p.Status, peerStatus(p, refs)))
	}
	return r.conflicts.end(r.logger, errors.Join(errs...))
}

// passwordSecrets returns the Secrets of the speakers' namespace by name,
// or nil when the controller does not check them.
func (r *peerReconciler) passwordSecrets(ctx context.Context) (map[string]*corev1.Secret, error) {
	if !r.checkSecrets {
		return nil, nil
	}
	// Secrets from the cache are only read, so they are not copied.
	var secretList corev1.SecretList
	if err := r.client.List(ctx, &secretList, client.InNamespace(r.speakerNamespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	secrets := make(map[string]*corev1.Secret, len(secretList.Items))
	for i := range secretList.Items {
		secrets[secretList.Items[i].Name] = &secretList.Items[i]
	}
	return secrets, nil
}

// peerStatus returns the status a peer should show. Conditions whose
// status stays the same keep their transition time, so the result equals
// the current status when nothing changed. The peer is refused for what
// makes the speakers refuse it on every node; with refs.Secrets nil, only
// the password Secret's namespace is checked, and the speakers report a
// missing Secret or key on their node status.
func peerStatus(p *v1alpha1.BGPPeer, refs translate.PeerReferences) v1alpha1.ConfigStatus {
	status := *p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	accepted := metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonAccepted,
		Message:            "the speakers use this peer",
		ObservedGeneration: p.Generation,
	}
	if problems := translate.CheckPeer(p, refs); len(problems) > 0 {
		// The speakers fall back to the last version they could use; one
		// that never saw such a version has no session with this peer.
		accepted.Status = metav1.ConditionFalse
		accepted.Reason = v1alpha1.ReasonInvalid
		accepted.Message = strings.Join(problems, "; ") + "; the speakers keep using the last valid version of this peer they saw, if they saw one"
	}
	meta.SetStatusCondition(&status.Conditions, accepted)
	return status
}

// profileStatus returns the status a BFD profile should show, keeping the
// transition times of conditions whose status stays the same.
func profileStatus(p *v1alpha1.BFDProfile) v1alpha1.ConfigStatus {
	status := *p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	// The API server checks every field's range, and the speakers use
	// every profile that it stored.
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonAccepted,
		Message:            "the speakers use this profile",
		ObservedGeneration: p.Generation,
	})
	supported := metav1.Condition{
		Type:               v1alpha1.ConditionSupported,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonSupported,
		Message:            "the BFD engine honours every field of this profile",
		ObservedGeneration: p.Generation,
	}
	if ignored := translate.BFDLimitations(&p.Spec); len(ignored) > 0 {
		supported.Status = metav1.ConditionFalse
		supported.Reason = v1alpha1.ReasonUnsupported
		supported.Message = strings.Join(ignored, "; ")
	}
	meta.SetStatusCondition(&status.Conditions, supported)
	return status
}

// secretKeysOnly is the cache transform of Secrets. A peer's condition
// depends only on which keys of a Secret hold a value, so the cache keeps
// those keys, each with the stand-in value redactedValue, and drops the
// values, the keys without a value, the annotations (kubectl's
// last-applied-configuration holds a copy of the data) and the managed
// fields. Passwords are thus never kept in the controller's memory, and
// translate.Password, which takes an empty value for none, finds a value
// exactly where the speakers find one.
func secretKeysOnly(in any) (any, error) {
	s, ok := in.(*corev1.Secret)
	if !ok {
		return in, nil
	}
	keys := make(map[string][]byte, len(s.Data))
	for k, v := range s.Data {
		if len(v) > 0 {
			keys[k] = []byte(redactedValue)
		}
	}
	s.Data = keys
	s.StringData = nil
	s.Annotations = nil
	s.ManagedFields = nil
	return s, nil
}

// secretKeysChanged passes Secret events that can change a peer's
// condition: creation, deletion, and updates that change which keys hold a
// value. The cache keeps only those keys (see secretKeysOnly), so comparing
// key names is enough; values are never compared.
func secretKeysChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*corev1.Secret)
		cur, okNew := e.ObjectNew.(*corev1.Secret)
		if !okOld || !okNew {
			return true
		}
		return !maps.EqualFunc(old.Data, cur.Data, func(_, _ []byte) bool { return true })
	}}
}
