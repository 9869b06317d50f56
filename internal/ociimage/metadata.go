package ociimage

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Source identifies what one set of images is built from. Every image's
// labels and annotations carry it, and Created is every timestamp in the
// images, so that two builds of one commit are identical.
type Source struct {
	// Version is the release as git describe prints it; it is also the
	// images' tag.
	Version string
	// Revision is the full commit hash.
	Revision string
	// URL is where the source lives (org.opencontainers.image.source).
	URL string
	// Created is the commit time (SOURCE_DATE_EPOCH).
	Created time.Time
}

// A tag, as the OCI distribution specification allows it.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func (s Source) validate() error {
	var errs []error
	if !tagPattern.MatchString(s.Version) {
		errs = append(errs, fmt.Errorf("version %q is not a valid image tag (letters, digits, '.', '_', '-'; at most 128)", s.Version))
	}
	// The revision goes into the linker's flags, which split at spaces.
	if !tagPattern.MatchString(s.Revision) {
		errs = append(errs, fmt.Errorf("revision %q is not a commit name (letters, digits, '.', '_', '-')", s.Revision))
	}
	if s.URL == "" {
		errs = append(errs, errors.New("the source URL is empty"))
	}
	if s.Created.IsZero() {
		errs = append(errs, errors.New("the creation time is not set (SOURCE_DATE_EPOCH)"))
	}
	return errors.Join(errs...)
}

// created is the build time as every timestamp in an image has it: UTC,
// whole seconds, so that a tar header and a JSON config agree.
func (s Source) created() time.Time {
	return s.Created.UTC().Truncate(time.Second)
}

// annotations are the OCI annotation keys used both as image labels
// (docker inspect, registries' web pages) and as manifest annotations
// (what registries that index OCI metadata read).
func (s Source) annotations(title, description string) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.source":   s.URL,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  s.created().Format(time.RFC3339),
		"org.opencontainers.image.title":    title,
	}
	if description != "" {
		a["org.opencontainers.image.description"] = description
	}
	return a
}
