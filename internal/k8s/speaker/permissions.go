package speaker

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/access"
)

// showPermissions sets the PermissionsGranted condition of the node's
// BGPNodeStatus to what the permission preflight found, as far as the
// speaker may: it needs to read the object and write its status, and, for
// a node that has none yet, to create it and read the Node it belongs to.
// A condition that was never False is not written when everything is
// granted, so that a speaker with its permissions costs no extra write.
func showPermissions(ctx context.Context, c client.Client, reader client.Reader, node string, r access.Report) error {
	if !r.Granted(v1alpha1.GroupVersion.Group, "bgpnodestatuses", "get") || !r.Granted(v1alpha1.GroupVersion.Group, "bgpnodestatuses/status", "update") {
		return nil
	}
	var cur v1alpha1.BGPNodeStatus
	err := reader.Get(ctx, client.ObjectKey{Name: node}, &cur)
	switch {
	case apierrors.IsNotFound(err):
		if len(r.Missing) == 0 || !r.Granted(v1alpha1.GroupVersion.Group, "bgpnodestatuses", "create") || !r.Granted("", "nodes", "get") {
			return nil
		}
		var n corev1.Node
		if err := reader.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
			return fmt.Errorf("read node %s: %w", node, err)
		}
		if err := createNodeStatus(ctx, c, reader, node, n.UID, &cur); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read BGPNodeStatus %s: %w", node, err)
	}
	cond := metav1.Condition{Type: v1alpha1.ConditionPermissionsGranted, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonAllGranted, Message: "every permission the speaker needs is granted"}
	if len(r.Missing) > 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonMissingPermissions, conditionMessage(r.Message)
	} else if meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionPermissionsGranted) == nil {
		return nil
	}
	if !meta.SetStatusCondition(&cur.Status.Conditions, cond) {
		return nil
	}
	if err := c.Status().Update(ctx, &cur); err != nil {
		return fmt.Errorf("write BGPNodeStatus %s: %w", node, err)
	}
	return nil
}
