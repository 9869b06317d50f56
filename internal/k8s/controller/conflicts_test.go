package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/k8s/kubeutil"
)

func TestOnlyConflictsAreTakenForRoutine(t *testing.T) {
	resource := schema.GroupResource{Group: "bgplb.io", Resource: "ippools"}
	conflict := apierrors.NewConflict(resource, "a", errors.New("the object has been modified"))
	forbidden := apierrors.NewForbidden(resource, "b", errors.New("no"))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a conflict", conflict, true},
		{"a wrapped conflict", fmt.Errorf("write status: %w", conflict), true},
		{"conflicts joined and wrapped", fmt.Errorf("pass: %w", errors.Join(conflict, fmt.Errorf("x: %w", conflict))), true},
		{"a conflict joined with another failure", errors.Join(conflict, forbidden), false},
		{"a conflict joined with another failure, wrapped", fmt.Errorf("pass: %w", errors.Join(conflict, forbidden)), false},
		{"another API failure", forbidden, false},
		{"a plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := onlyConflicts(tt.err); got != tt.want {
			t.Errorf("%s: onlyConflicts = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A status write that meets a newer version of its object makes the pass
// run again soon, logged at debug level, not fail: controller-runtime logs
// a failed pass as an error. Other failures still fail the pass.
func TestAWriteConflictIsRetriedAndLoggedAtDebugLevel(t *testing.T) {
	scheme, err := kubeutil.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	resource := schema.GroupResource{Group: "bgplb.io", Resource: "bgpadvertisements"}
	for _, tt := range []struct {
		name      string
		failure   error
		wantRetry bool
	}{
		{"conflict", apierrors.NewConflict(resource, "web", errors.New("the object has been modified")), true},
		{"forbidden", apierrors.NewForbidden(resource, "web", errors.New("no")), false},
	} {
		ad := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1}}
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ad).WithStatusSubresource(ad).
			WithInterceptorFuncs(interceptor.Funcs{
				SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
					return tt.failure
				},
			}).Build()
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		res, err := newAdvertisementReconciler(c, logger).Reconcile(context.Background(), reconcile.Request{})
		switch {
		case tt.wantRetry && (err != nil || res.RequeueAfter <= 0):
			t.Errorf("%s: pass returned %+v, %v; want a retry and no error", tt.name, res, err)
		case tt.wantRetry && !strings.Contains(logs.String(), "level=DEBUG"):
			t.Errorf("%s: logged %q, want a debug line", tt.name, logs.String())
		case !tt.wantRetry && !errors.Is(err, tt.failure):
			t.Errorf("%s: pass returned %+v, %v; want the failure", tt.name, res, err)
		}
	}
}

// Conflicts that never clear are returned after a while, so that an
// operator hears of them and controller-runtime backs off; a pass without
// conflicts starts the count again.
func TestConflictsThatDoNotClearAreReturnedAsAFailure(t *testing.T) {
	resource := schema.GroupResource{Group: "bgplb.io", Resource: "ippools"}
	conflict := apierrors.NewConflict(resource, "a", errors.New("the object has been modified"))
	logger := slog.New(slog.DiscardHandler)
	var c conflictStreak
	for range 2 {
		for pass := 1; pass <= maxConflictPasses; pass++ {
			if res, err := c.end(logger, conflict); err != nil || res.RequeueAfter <= 0 {
				t.Fatalf("conflict pass %d: %+v, %v; want a retry", pass, res, err)
			}
		}
		if _, err := c.end(logger, conflict); !errors.Is(err, conflict) {
			t.Fatalf("pass %d in a row with conflicts: error %v, want the conflict returned", maxConflictPasses+1, err)
		}
	}
	if _, err := c.end(logger, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := c.end(logger, conflict); err != nil || res.RequeueAfter <= 0 {
		t.Errorf("a conflict after a clean pass: %+v, %v; want a retry", res, err)
	}
}
