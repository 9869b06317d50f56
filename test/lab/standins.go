package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

// startStandIns runs, in the lab's own process, what a cluster's kubelets
// and kube-controller-manager would do for the lab's pods: the lab's
// kubelet (kubelet.go) runs every Pod that asks for ResponderImage on a
// lab node, and its EndpointSlice controller (endpointslices.go) writes
// the slices of every Service that selects pods. Tests, the README's
// walk-through and kubectl users all go through them.
func (l *Lab) startStandIns() error {
	scheme, err := kubeutil.Scheme()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(l.Dir, "stand-ins.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.onClose(logFile.Close)
	mgr, err := manager.New(l.env.Config, manager.Options{
		Scheme:                 scheme,
		Logger:                 logr.FromSlogHandler(slog.NewTextHandler(logFile, nil)),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Several labs may run in one test process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("lab stand-ins: %w", err)
	}
	runs := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pod, ok := o.(*corev1.Pod)
		return ok && l.runsResponder(pod)
	})
	// Starting a pod runs a few ip commands; several at once keep a
	// benchmark's thousand pods from queueing behind each other.
	workers := ctrlcontroller.Options{MaxConcurrentReconciles: 4}
	err = builder.ControllerManagedBy(mgr).Named("lab-kubelet").WithOptions(workers).
		For(&corev1.Pod{}, builder.WithPredicates(runs)).
		Complete(&kubelet{lab: l, client: mgr.GetClient()})
	if err != nil {
		return fmt.Errorf("lab kubelet: %w", err)
	}
	err = builder.ControllerManagedBy(mgr).Named("lab-endpointslices").WithOptions(workers).
		For(&corev1.Service{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, pod client.Object) []reconcile.Request {
			return servicesSelecting(ctx, mgr.GetClient(), pod)
		})).
		Complete(&endpointSlices{client: mgr.GetClient()})
	if err != nil {
		return fmt.Errorf("lab endpoint slice controller: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	l.onClose(func() error { cancel(); return <-done })
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("lab stand-ins: the cache did not sync")
	}
	return nil
}
