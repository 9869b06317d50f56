package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bgplb/bgplb/internal/poll"
	"github.com/bgplb/bgplb/test/lab"
)

// speakerWrites returns each speaker's count of API writes so far.
func speakerWrites(l *lab.Lab) ([]float64, error) {
	out := make([]float64, len(l.Nodes))
	for i, n := range l.Nodes {
		m, err := l.ScrapeSpeaker(n)
		if err != nil {
			return nil, err
		}
		out[i] = m.APIWrites()
	}
	return out, nil
}

// writesRun measures the speakers' API writes with n Services in place:
// first in steady state, then during a churn of changes per second
// (Services created and deleted in turn), each over window.
func writesRun(ctx context.Context, l *lab.Lab, n, changesPerSecond int, window time.Duration) error {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("steady-%d", i)
	}
	if err := parallel(names, func(name string) error {
		svc := service(name)
		if err := l.Client.Create(ctx, svc); err != nil {
			return err
		}
		_, err := l.PlacePods(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}})
		return err
	}); err != nil {
		return err
	}
	addrs, _, err := waitAllAddrs(ctx, l, "steady-", n)
	if err != nil {
		return err
	}
	if _, err := waitKernel(l, addrs, 3, 5*time.Minute, 50*time.Millisecond); err != nil {
		return err
	}
	// Settled means no speaker wrote for five seconds: the status objects
	// and the events of the creation are out.
	before, err := waitQuiet(ctx, l, 5*time.Second)
	if err != nil {
		return err
	}
	// Not a wait for anything: the steady figures are what the speakers
	// write over this window.
	time.Sleep(window)
	steady, err := speakerWrites(l)
	if err != nil {
		return err
	}

	// Churn: every tick creates one Service or deletes the oldest churned
	// one, so the number of Services stays about the same.
	tick := time.NewTicker(time.Second / time.Duration(changesPerSecond))
	var live []string
	end := time.Now().Add(window)
	changes := 0
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		if i%2 == 0 || len(live) == 0 {
			name := fmt.Sprintf("churn-%d", i)
			svc := service(name)
			if err := l.Client.Create(ctx, svc); err != nil {
				return err
			}
			if _, err := l.PlacePods(ctx, svc, map[string][]lab.EndpointState{"node-1": {lab.Ready}}); err != nil {
				return err
			}
			live = append(live, name)
		} else {
			if err := l.Client.Delete(ctx, service(live[0])); err != nil {
				return err
			}
			live = live[1:]
		}
		changes++
	}
	tick.Stop()
	churned, err := speakerWrites(l)
	if err != nil {
		return err
	}
	perMinute := func(d float64) float64 { return d * float64(time.Minute) / float64(window) }
	fmt.Printf("speaker API writes with %d Services on %d nodes (status objects and events; client-go's request counter):\n", n, len(l.Nodes))
	for i, node := range l.Nodes {
		fmt.Printf("  %s: steady state %3.0f writes in %s   churn of %d changes/s: %5.1f writes/minute\n",
			node.Name, steady[i]-before[i], window, changesPerSecond, perMinute(churned[i]-steady[i]))
	}
	fmt.Printf("  (%d Service creations and deletions during the churn)\n", changes)
	for _, name := range live {
		if err := l.Client.Delete(ctx, service(name)); err != nil {
			return err
		}
	}
	return parallel(names, func(name string) error { return l.Client.Delete(ctx, service(name)) })
}

// waitQuiet waits until no speaker has written for quiet, and returns
// their write counts then.
func waitQuiet(ctx context.Context, l *lab.Lab, quiet time.Duration) ([]float64, error) {
	before, err := speakerWrites(l)
	if err != nil {
		return nil, err
	}
	since := time.Now()
	err = poll.UntilEvery(ctx, 500*time.Millisecond, 5*time.Minute, fmt.Sprintf("no speaker writes for %s", quiet), func() (bool, string) {
		now, err := speakerWrites(l)
		if err != nil {
			return false, err.Error()
		}
		if fmt.Sprint(now) != fmt.Sprint(before) {
			before, since = now, time.Now()
		}
		return time.Since(since) >= quiet, fmt.Sprint("writes ", now)
	})
	return before, err
}
