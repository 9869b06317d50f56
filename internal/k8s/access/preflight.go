package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// DefaultMaxInterval is the longest wait between two checks while a
// permission is missing. Checks start a second apart and back off to it:
// a fleet of speakers that all lack a permission then asks the API server
// a few questions a minute each, and a granted permission is noticed
// within half a minute.
const DefaultMaxInterval = 30 * time.Second

const firstInterval = time.Second

// requestTimeout bounds one round of checks and one report, so that a hung
// API server does not stop the checks for good.
const requestTimeout = 30 * time.Second

// maxEventNote is the longest note the events.k8s.io API accepts.
const maxEventNote = 1024

// Event reasons of the preflight.
const (
	ReasonMissingPermissions = "MissingPermissions"
	ReasonPermissionsGranted = "PermissionsGranted"
)

// Report is what a check found.
type Report struct {
	// Missing lists the permissions the identity lacks, sorted; empty
	// once every one is granted.
	Missing []Permission
	// Message is the log line naming every missing permission; empty
	// once every one is granted.
	Message string
	// User is the identity the API server knows the component by, empty
	// if it could not tell.
	User string
}

// Granted tells whether the identity may use verb on resource (a
// subresource after a slash) of group cluster-wide. It is meant for
// permissions the component declared: an undeclared one is never missing.
func (r Report) Granted(group, resource, verb string) bool {
	res, sub, _ := strings.Cut(resource, "/")
	return !slices.ContainsFunc(r.Missing, func(p Permission) bool {
		return p.Group == group && p.Resource == res && p.Subresource == sub && p.Verb == verb && p.Namespace == ""
	})
}

// Preflight checks a component's permissions with SelfSubjectAccessReviews
// before its manager starts its cache. While something is missing it logs
// one line naming every missing permission, once per change and not on
// every check, reports not ready, sends an Event and calls OnChange; it
// keeps checking until everything is granted, and never ends the process.
//
// Install it with GateCache (as the manager's NewCache), then Attach the
// manager it built; the manager Attach returns runs the checks when it
// starts.
type Preflight struct {
	// Component names the component in log lines, such as "speaker".
	Component string
	// Permissions is everything the component needs.
	Permissions []Permission
	// Client asks the API server; Attach sets the manager's client if it
	// is nil. The preflight only creates reviews, which bypass the cache.
	Client client.Client
	// Logger receives the lines about missing permissions.
	Logger *slog.Logger
	// MaxInterval is the longest wait between two checks while something
	// is missing; zero means DefaultMaxInterval.
	MaxInterval time.Duration
	// Recorder and Regarding, when both are set, send an Event about
	// Regarding (the component's Pod) on each change, if the identity may
	// create Events.
	Recorder  events.EventRecorder
	Regarding runtime.Object
	// OnChange, if set, is called on each change of what is missing, and
	// once more when everything is granted after something was missing.
	OnChange func(context.Context, Report)

	once    sync.Once
	granted chan struct{} // closed once every permission is granted
	ended   chan struct{} // closed when the checks end, granted or not

	mu     sync.Mutex
	status string // why the component is not ready yet
}

// New returns a preflight for the permissions of rules that logs to
// logger (nil means slog.Default()) and waits at most maxInterval between
// two checks (zero means DefaultMaxInterval).
func New(component string, rules []Rule, logger *slog.Logger, maxInterval time.Duration) *Preflight {
	if logger == nil {
		logger = slog.Default()
	}
	return &Preflight{
		Component:   component,
		Permissions: Permissions(rules),
		Logger:      logger,
		MaxInterval: maxInterval,
		granted:     make(chan struct{}),
		ended:       make(chan struct{}),
		status:      "permissions not checked yet",
	}
}

// Run checks until every permission is granted or ctx ends. A missing
// permission is reported, never an error that would end the component.
func (p *Preflight) Run(ctx context.Context) {
	ran := false
	p.once.Do(func() {
		ran = true
		defer close(p.ended)
		p.run(ctx)
	})
	if !ran {
		p.Logger.Error("permission preflight started twice; the second run does nothing", "component", p.Component)
	}
}

func (p *Preflight) run(ctx context.Context) {
	maxInterval := p.MaxInterval
	if maxInterval <= 0 {
		maxInterval = DefaultMaxInterval
	}
	interval := min(firstInterval, maxInterval)
	whoCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	user := p.whoAmI(whoCtx)
	cancel()
	// After the first check only what was missing is asked about again,
	// so that a fleet of waiting speakers asks little; once that is all
	// granted, everything is checked once more, since anything else may
	// have been taken away meanwhile.
	pending := p.Permissions
	var reported []Permission
	lastErr := ""
	for {
		checkCtx, cancel := context.WithTimeout(ctx, requestTimeout)
		missing, err := p.check(checkCtx, pending)
		cancel()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if err.Error() != lastErr {
				p.Logger.Warn("cannot check permissions with the API server; retrying", "component", p.Component, "error", err)
				lastErr = err.Error()
			}
			p.setStatus("cannot check permissions: " + err.Error())
		case len(missing) == 0 && len(pending) < len(p.Permissions):
			pending = p.Permissions
			continue
		case len(missing) == 0:
			p.Logger.Info("every permission the "+p.Component+" needs is granted", "component", p.Component, "user", user, "permissions", len(p.Permissions))
			if reported != nil {
				p.report(ctx, Report{User: user})
			}
			p.setStatus("")
			close(p.granted)
			return
		default:
			lastErr = ""
			if !slices.Equal(missing, reported) {
				r := Report{Missing: missing, Message: Message(missing), User: user}
				p.Logger.Error(r.Message, "component", p.Component, "user", user)
				p.setStatus(r.Message)
				p.report(ctx, r)
				reported = missing
			}
			pending = missing
			p.Logger.Debug("permission check done", "component", p.Component, "missing", len(missing), "next", interval)
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		interval = min(2*interval, maxInterval)
	}
}

// whoAmI asks the API server which identity the component has, for the
// log line: "system:serviceaccount:<namespace>:<name>" tells an operator
// which binding to look at. Any error leaves it unnamed.
func (p *Preflight) whoAmI(ctx context.Context) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := p.Client.Create(ctx, review); err != nil {
		p.Logger.Debug("cannot ask the API server who this component is", "component", p.Component, "error", err)
		return ""
	}
	return review.Status.UserInfo.Username
}

// check returns the permissions of perms that the identity lacks.
func (p *Preflight) check(ctx context.Context, perms []Permission) ([]Permission, error) {
	var missing []Permission
	for _, perm := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: perm.Namespace, Verb: perm.Verb, Group: perm.Group, Resource: perm.Resource, Subresource: perm.Subresource,
			},
		}}
		if err := p.Client.Create(ctx, review); err != nil {
			return nil, fmt.Errorf("ask whether this component may %s: %w", perm, err)
		}
		if !review.Status.Allowed {
			missing = append(missing, perm)
		}
	}
	return missing, nil
}

// report sends the Event and calls OnChange.
func (p *Preflight) report(ctx context.Context, r Report) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if p.Recorder != nil && p.Regarding != nil && r.Granted("events.k8s.io", "events", "create") {
		if len(r.Missing) > 0 {
			p.Recorder.Eventf(p.Regarding, nil, corev1.EventTypeWarning, ReasonMissingPermissions, "CheckPermissions", "%s", cut(r.Message, maxEventNote))
		} else {
			p.Recorder.Eventf(p.Regarding, nil, corev1.EventTypeNormal, ReasonPermissionsGranted, "CheckPermissions", "every permission the %s needs is granted", p.Component)
		}
	}
	if p.OnChange != nil {
		p.OnChange(ctx, r)
	}
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

func (p *Preflight) setStatus(s string) {
	p.mu.Lock()
	p.status = s
	p.mu.Unlock()
}

// Ready is the readiness check: it fails until every permission is
// granted, with what is missing as the reason.
func (p *Preflight) Ready(*http.Request) error {
	select {
	case <-p.granted:
		return nil
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.New(p.status)
}

// wait blocks until every permission is granted (true), or the checks
// ended without that, or ctx ends (false).
func (p *Preflight) wait(ctx context.Context) bool {
	select {
	case <-p.granted:
		return true
	case <-p.ended:
		select {
		case <-p.granted:
			return true
		default:
			return false
		}
	case <-ctx.Done():
		return false
	}
}

// abandoned tells whether the checks ended before everything was granted,
// which happens only when the manager is stopping.
func (p *Preflight) abandoned() bool {
	select {
	case <-p.ended:
		select {
		case <-p.granted:
			return false
		default:
			return true
		}
	default:
		return false
	}
}

// GateCache wraps newCache (nil means cache.New) so that the cache it
// builds starts, and reports synced, only once every permission is
// granted. The manager starts its controllers, leader election and other
// runnables only after its cache has synced, so none of them runs into a
// missing permission, and none fails a cache sync and ends the process.
func (p *Preflight) GateCache(newCache cache.NewCacheFunc) cache.NewCacheFunc {
	if newCache == nil {
		newCache = cache.New
	}
	return func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
		c, err := newCache(cfg, opts)
		if err != nil {
			return nil, err
		}
		return &gatedCache{Cache: c, preflight: p}, nil
	}
}

type gatedCache struct {
	cache.Cache
	preflight *Preflight
}

func (c *gatedCache) Start(ctx context.Context) error {
	if !c.preflight.wait(ctx) {
		return nil
	}
	return c.Cache.Start(ctx)
}

func (c *gatedCache) WaitForCacheSync(ctx context.Context) bool {
	if c.preflight.wait(ctx) {
		return c.Cache.WaitForCacheSync(ctx)
	}
	// The manager is stopping before everything was granted. Its start-up
	// waits for this cache without watching the context it was started
	// with, so only a synced cache lets it go on and stop; nothing reads
	// the cache any more.
	return c.preflight.abandoned()
}

// Attach adds the readiness check to mgr, a manager built with GateCache,
// and returns it with a Start that runs the checks. They need the context
// Start is given: the manager's own runnables get a context that ends
// only after its start-up, which waits for the gated cache.
func (p *Preflight) Attach(mgr manager.Manager) (manager.Manager, error) {
	if p.Client == nil {
		p.Client = mgr.GetClient()
	}
	if err := mgr.AddReadyzCheck("permissions", p.Ready); err != nil {
		return nil, fmt.Errorf("add permission readiness check: %w", err)
	}
	return &gatedManager{Manager: mgr, preflight: p}, nil
}

type gatedManager struct {
	manager.Manager
	preflight *Preflight
}

// Start runs the checks beside the manager until both end.
func (m *gatedManager) Start(ctx context.Context) error {
	checkCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.preflight.Run(checkCtx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	return m.Manager.Start(ctx)
}
