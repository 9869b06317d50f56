package bgp

import "strconv"

// String returns the large community as "global:local1:local2", the form
// in which operators write it.
func (c LargeCommunity) String() string {
	return strconv.FormatUint(uint64(c.Global), 10) + ":" +
		strconv.FormatUint(uint64(c.Local1), 10) + ":" +
		strconv.FormatUint(uint64(c.Local2), 10)
}
