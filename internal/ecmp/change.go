package ecmp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The text forms below are what bgplbctl accepts on its command line.
//
// A next hop is NAME or NAME:WEIGHT. Names are often IP addresses, and an
// IPv6 address is full of colons, so a string that is an IP address as a
// whole is taken as a name without weight; an IPv6 address with a weight is
// written in brackets, [2001:db8::1]:3, as for host and port. Brackets work
// around any name.

// changeSyntax is quoted in errors so that a user who got a change wrong
// sees every form at once.
const changeSyntax = "remove=NAME, add=NAME[:WEIGHT][@POS] or weight=NAME:WEIGHT"

// ParseNextHops parses a comma-separated list of next hops in router order,
// each NAME or NAME:WEIGHT (see FormatNextHops for the inverse). A next hop
// without weight gets weight 1.
func ParseNextHops(s string) ([]NextHop, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty next-hop list")
	}
	var nhs []NextHop
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("invalid next-hop list %q: empty item", s)
		}
		name, weight, err := parseNameWeight(item, false)
		if err != nil {
			return nil, fmt.Errorf("invalid next hop %q: %w", item, err)
		}
		if slices.ContainsFunc(nhs, func(nh NextHop) bool { return nh.Name == name }) {
			return nil, fmt.Errorf("invalid next-hop list %q: next hop %q appears twice", s, name)
		}
		nhs = append(nhs, NextHop{Name: name, Weight: weight})
	}
	return nhs, nil
}

// FormatNextHops writes next hops in the form ParseNextHops reads, leaving
// out weights of 1.
func FormatNextHops(nhs []NextHop) string {
	parts := make([]string, len(nhs))
	for i, nh := range nhs {
		parts[i] = nh.String()
	}
	return strings.Join(parts, ",")
}

// String writes the next hop as NAME, or NAME:WEIGHT when its weight is not
// 1, bracketing a name that would otherwise be read differently.
func (n NextHop) String() string {
	w := n.weight()
	name := n.Name
	if strings.Contains(name, ":") && (w != 1 || !isIP(name)) {
		name = "[" + name + "]"
	}
	if w == 1 {
		return name
	}
	return name + ":" + strconv.FormatUint(w, 10)
}

// ApplyChange returns the next-hop set that results from applying change
// to before, which is left as it is. change is a comma-separated list,
// applied in order, of
//
//	remove=NAME              the next hop leaves the set
//	add=NAME[:WEIGHT][@POS]  a new next hop (weight 1 unless given) enters at
//	                         index POS in router order, at the end unless given
//	weight=NAME:WEIGHT       the next hop's weight changes
//
// An empty change leaves the set as it is. Errors quote the bad item.
func ApplyChange(before []NextHop, change string) ([]NextHop, error) {
	if err := checkNames(before); err != nil {
		return nil, fmt.Errorf("before set: %w", err)
	}
	after := slices.Clone(before)
	if strings.TrimSpace(change) == "" {
		return after, nil
	}
	for item := range strings.SplitSeq(change, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("invalid change list %q: empty item", change)
		}
		var err error
		if after, err = applyOne(after, item); err != nil {
			return nil, fmt.Errorf("invalid change %q: %w", item, err)
		}
	}
	return after, nil
}

func applyOne(nhs []NextHop, item string) ([]NextHop, error) {
	op, arg, ok := strings.Cut(item, "=")
	if !ok {
		return nil, fmt.Errorf("want %s", changeSyntax)
	}
	switch op {
	case "remove":
		name, weight, err := parseNameWeight(arg, false)
		if err != nil {
			return nil, err
		}
		if weight != 0 {
			return nil, errors.New("remove takes a name without weight")
		}
		i, err := find(nhs, name)
		if err != nil {
			return nil, err
		}
		return slices.Delete(nhs, i, i+1), nil
	case "add":
		spec, pos := arg, len(nhs)
		if at := strings.LastIndexByte(arg, '@'); at >= 0 {
			spec = arg[:at]
			p, err := strconv.Atoi(arg[at+1:])
			if err != nil || p < 0 || p > len(nhs) {
				return nil, fmt.Errorf("position %q is not a whole number from 0 to %d", arg[at+1:], len(nhs))
			}
			pos = p
		}
		name, weight, err := parseNameWeight(spec, false)
		if err != nil {
			return nil, err
		}
		if _, err := find(nhs, name); err == nil {
			return nil, fmt.Errorf("next hop %q is already in the set", name)
		}
		return slices.Insert(nhs, pos, NextHop{Name: name, Weight: max(weight, 1)}), nil
	case "weight":
		name, weight, err := parseNameWeight(arg, true)
		if err != nil {
			return nil, err
		}
		i, err := find(nhs, name)
		if err != nil {
			return nil, err
		}
		nhs[i].Weight = weight
		return nhs, nil
	default:
		return nil, fmt.Errorf("unknown change %q: want %s", op, changeSyntax)
	}
}

func find(nhs []NextHop, name string) (int, error) {
	i := slices.IndexFunc(nhs, func(nh NextHop) bool { return nh.Name == name })
	if i < 0 {
		return -1, fmt.Errorf("no next hop %q in the set", name)
	}
	return i, nil
}

// parseNameWeight splits NAME[:WEIGHT] as the comment at the top of this
// file describes. The weight is 0 when none is given; needWeight makes
// that an error, and then the last colon always separates the weight, so
// weight=2001:db8::1:3 works without brackets.
func parseNameWeight(s string, needWeight bool) (string, uint32, error) {
	name, weightText, hasWeight := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New(`"[" without "]"`)
		}
		name = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, fmt.Errorf("unexpected %q after %q", rest, s[:end+1])
			}
			weightText, hasWeight = rest[1:], true
		}
	case !needWeight && isIP(s):
	default:
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			name, weightText, hasWeight = s[:i], s[i+1:], true
		}
	}
	if err := checkName(name); err != nil {
		return "", 0, err
	}
	if !hasWeight {
		if needWeight {
			return "", 0, errors.New("missing weight: want NAME:WEIGHT")
		}
		return name, 0, nil
	}
	w, err := strconv.ParseUint(weightText, 10, 32)
	if err != nil || w == 0 {
		return "", 0, fmt.Errorf("weight %q is not a whole number from 1 to 4294967295", weightText)
	}
	return name, uint32(w), nil
}

// checkName keeps out of names the characters that separate the parts of
// the text forms, and white space, which the parsers trim from items, so
// that every name can be written back and read again. Names are UTF-8
// text, which JSON output can hold as it is.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty next-hop name")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("next-hop name %q is not valid UTF-8", name)
	}
	reserved := func(r rune) bool { return strings.ContainsRune(",=@[]", r) || unicode.IsSpace(r) }
	if i := strings.IndexFunc(name, reserved); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("next-hop name %q contains %q", name, r)
	}
	return nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
