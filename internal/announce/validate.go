package announce

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxPrependCount is the largest AS path prepend count accepted: one
// AS_SEQUENCE segment holds at most 255 ASNs.
const maxPrependCount = 255

// advertisement is an Advertisement that passed validation, with its
// communities parsed and its lengths resolved.
type advertisement struct {
	*Advertisement
	communities []uint32         // as Community.Uint32; sorted, deduplicated
	large       []LargeCommunity // sorted, deduplicated
	len4, len6  int
	prepend     int // count; 0 if none
}

// validAdvertisements returns the advertisements that are valid on their
// own, sorted by name, and records an error for every other one. A name
// used more than once is an error for all advertisements of that name.
func validAdvertisements(in []Advertisement, errs map[string]error) []*advertisement {
	count := make(map[string]int, len(in))
	for i := range in {
		count[in[i].Name]++
	}
	var out []*advertisement
	for i := range in {
		ad := &in[i]
		if n := count[ad.Name]; n > 1 {
			errs[ad.Name] = errorOf(ErrInvalidAdvertisement, "%d advertisements are named %q; none of them is used", n, ad.Name)
			continue
		}
		v, err := validate(ad)
		if err != nil {
			errs[ad.Name] = err
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *advertisement) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// validate checks one advertisement on its own. Every problem found is
// listed in the error, separated by "; ".
func validate(ad *Advertisement) (*advertisement, error) {
	v := &advertisement{Advertisement: ad, len4: 32, len6: 128}
	var problems []string
	for _, s := range ad.Communities {
		std, large, err := ParseCommunity(s)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case std != nil:
			v.communities = append(v.communities, std.Uint32())
		default:
			v.large = append(v.large, *large)
		}
	}
	slices.Sort(v.communities)
	v.communities = slices.Compact(v.communities)
	slices.SortFunc(v.large, compareLargeCommunity)
	v.large = slices.Compact(v.large)
	if l := ad.AggregationLength; l != nil {
		if *l < 0 || *l > 32 {
			problems = append(problems, fmt.Sprintf("aggregationLength %d is out of range 0 to 32", *l))
		}
		v.len4 = *l
	}
	if l := ad.AggregationLengthV6; l != nil {
		if *l < 0 || *l > 128 {
			problems = append(problems, fmt.Sprintf("aggregationLengthV6 %d is out of range 0 to 128", *l))
		}
		v.len6 = *l
	}
	if p := ad.ASPathPrepend; p != nil {
		if p.Count < 0 || p.Count > maxPrependCount {
			problems = append(problems, fmt.Sprintf("asPathPrepend count %d is out of range 0 to %d", p.Count, maxPrependCount))
		}
		v.prepend = p.Count
	}
	if h := ad.AdditionHold; h != nil {
		if h.MinDelay < 0 {
			problems = append(problems, fmt.Sprintf("additionHold minDelay %s is negative", h.MinDelay))
		}
		for _, w := range h.Windows {
			if w.Location == nil || w.Start == w.End || w.Start < 0 || w.End < 0 || w.Start >= 24*time.Hour || w.End >= 24*time.Hour {
				problems = append(problems, fmt.Sprintf("additionHold window %s is invalid", w))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errorOf(ErrInvalidAdvertisement, "%s", strings.Join(problems, "; "))
	}
	return v, nil
}
