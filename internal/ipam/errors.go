package ipam

import (
	"errors"
	"fmt"
)

// Sentinel errors let the caller tell kinds of failure apart with errors.Is
// while the messages stay specific. The controller, for example, reports an
// exhausted pool as a capacity problem but a refused address as a mistake in
// the Service.
var (
	// ErrExhausted means the only thing missing is a free address: with more
	// addresses in the candidate pools the request would succeed.
	ErrExhausted = errors.New("no free address")
	// ErrNoPool means no pool could ever satisfy the request as configured:
	// an address outside every pool, a pool that does not exist, or no pool
	// with addresses of a needed family.
	ErrNoPool = errors.New("no suitable pool")
	// ErrNotAllowed means a pool exists but the Service may not use it, or
	// may not use the requested address in it.
	ErrNotAllowed = errors.New("not allowed")
	// ErrInUse means an address is held by another Service that the Service
	// may not share it with.
	ErrInUse = errors.New("address in use")
	// ErrInvalidService means the Service description itself is
	// inconsistent, for example two requested addresses of one family.
	ErrInvalidService = errors.New("invalid service")
	// ErrInvalidPool wraps the reasons SetPools gives for rejecting a pool.
	ErrInvalidPool = errors.New("invalid pool")
	// ErrOverlap is the ErrInvalidPool given to a pool whose ranges overlap
	// its own or an earlier pool's, which operators fix differently from a
	// malformed pool.
	ErrOverlap = fmt.Errorf("overlapping ranges: %w", ErrInvalidPool)
)

// kindError carries an operator-facing message and a sentinel kind. Its
// message is only the specific text, so errors read like
// `no free IPv6 address in pool "v6"` rather than ending in the sentinel's
// generic wording.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() error { return e.kind }

func errorOf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
