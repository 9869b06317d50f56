package announce

import (
	"errors"
	"fmt"
)

// Sentinel errors let the caller tell kinds of failure apart with errors.Is
// while the messages stay specific. The speaker, for example, can report an
// invalid advertisement as a mistake in its spec but a conflict as a problem
// between two advertisements.
var (
	// ErrInvalidCommunity means a community string could not be parsed.
	ErrInvalidCommunity = errors.New("invalid community")
	// ErrInvalidAdvertisement means an advertisement is wrong on its own,
	// whatever else is configured: a bad community, an aggregation length
	// out of range, a negative prepend count, or a name used twice.
	ErrInvalidAdvertisement = errors.New("invalid advertisement")
	// ErrConflict means two advertisements give different values of the
	// same attribute (LOCAL_PREF or MED) to one prefix toward one peer.
	ErrConflict = errors.New("conflicting advertisements")
)

// kindError carries an operator-facing message and a sentinel kind. Its
// message is only the specific text, so errors read like
// `community "65000:x": "x" is not a number from 0 to 65535` rather than
// ending in the sentinel's generic wording.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() error { return e.kind }

func errorOf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
