package lab

import (
	"fmt"
	"time"
)

// syncLoop calls sync whenever kick fires and at least every poll, until
// stop is closed, then closes done. It logs each distinct failure once,
// and the recovery, under what. The resilient mirror and the GoBGP FIB
// keep the router's kernel in step with a daemon this way.
func syncLoop(what string, sync func() error, logf func(string, ...any), kick <-chan struct{}, poll time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	lastErr := ""
	for {
		select {
		case <-stop:
			return
		case <-kick:
		case <-ticker.C:
		}
		err := sync()
		switch msg := fmt.Sprint(err); {
		case err != nil && msg != lastErr:
			logf("%s: %v (retrying)", what, err)
			lastErr = msg
		case err == nil && lastErr != "":
			logf("%s: in sync again", what)
			lastErr = ""
		}
	}
}
