package speaker

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bgplb/bgplb/internal/director"
)

// addLiveness runs the watch of other nodes with the manager. A watch
// that cannot run (no CAP_NET_RAW) is logged and shown in the node's
// status, and the speaker goes on trusting the nodes' status objects.
func addLiveness(mgr manager.Manager, liveness director.Liveness, logger *slog.Logger) error {
	if liveness == nil {
		return nil
	}
	err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := liveness.Run(ctx); err != nil {
			logger.Warn("cannot watch whether other nodes answer; the director forwards to every node whose status says it serves", "error", err)
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("add the watch of other nodes: %w", err)
	}
	return nil
}

// livenessEvents turns the watch's change signals into events that start
// a recompute.
func livenessEvents(mgr manager.Manager, liveness director.Liveness) <-chan event.GenericEvent {
	events := make(chan event.GenericEvent)
	// The forwarder ends with the manager; an error adding it would only
	// mean the manager is already stopping.
	_ = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-liveness.Changes():
				select {
				// The event names no object: every event recomputes all.
				case events <- event.GenericEvent{Object: &corev1.Node{}}:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}))
	return events
}
