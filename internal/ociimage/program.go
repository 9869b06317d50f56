package ociimage

import (
	"fmt"
	"path"
	"regexp"
)

// One path component of a repository name, as the OCI distribution
// specification allows it.
var repositoryPattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)

// Program is one Go command that gets an image of its own.
type Program struct {
	// Name is the binary's and the image repository's name; it is the
	// last element of Package, as go build names the binary.
	Name string
	// Package is the command's import path, relative to the module
	// (./cmd/controller).
	Package string
	// Description becomes org.opencontainers.image.description.
	Description string
}

// Programs returns the commands bgplb ships as images.
func Programs() []Program {
	return []Program{
		{Name: "controller", Package: "./cmd/controller", Description: "bgplb controller: assigns LoadBalancer Service addresses from IP pools"},
		{Name: "speaker", Package: "./cmd/speaker", Description: "bgplb speaker: announces Service addresses to the node's BGP routers"},
		{Name: "bgplbctl", Package: "./cmd/bgplbctl", Description: "bgplb command line: status of Services, peers and nodes; ECMP what-if plans"},
	}
}

// binaryPath is where a program's binary lives in its image, and so its
// entrypoint.
func (p Program) binaryPath() string {
	return "/usr/local/bin/" + p.Name
}

func (p Program) validate() error {
	if p.Name == "" || path.Base(p.Package) != p.Name {
		return fmt.Errorf("program %q: its name must be the last element of its package %q, as go build names the binary", p.Name, p.Package)
	}
	if !repositoryPattern.MatchString(p.Name) {
		return fmt.Errorf("program %q: not usable as a repository name (lower-case letters, digits and single separators)", p.Name)
	}
	return nil
}
