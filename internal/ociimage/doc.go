// Package ociimage builds bgplb's container images and packages its Helm
// chart as OCI artifacts, with go-containerregistry and without a container
// daemon or a base image from a registry. hack/images is its command line
// (make images, make push).
//
// Every image has two layers: a base made here (the passwd and group
// entries of the non-root user the program runs as, and an empty /tmp),
// shared by all images, and the program's static binary. There is
// deliberately no CA bundle and no time zone database in the base:
//
//   - the controller and the speaker talk only to the API server, which
//     they trust through the cluster's own CA (the service account's
//     ca.crt, or the kubeconfig), never through the system's roots, and
//     bgplbctl does the same through its kubeconfig;
//   - the speaker's hold windows name IANA time zones, but the controller
//     and the speaker embed the zone database (time/tzdata), so they do
//     not depend on the image's.
//
// The images are reproducible: every timestamp is the build's creation
// time (the commit time, SOURCE_DATE_EPOCH), file owners and modes are
// fixed, and layers are compressed by this package, so the same source and
// Go toolchain give the same digests.
//
// The shipped binaries must not link this package: it is for building and
// publishing only, and a test checks that no command under cmd/ imports
// go-containerregistry or Helm.
package ociimage
