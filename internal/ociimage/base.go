package ociimage

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The user every image runs as. 65532 is the customary "nonroot" id of
// minimal images, so cluster policies written for those (runAsUser,
// fsGroup) fit bgplb's too.
const (
	nonrootUID  = 65532
	nonrootName = "nonroot"
)

// imageUser is the image config's User: numeric, so that the kubelet can
// check runAsNonRoot without reading /etc/passwd.
func imageUser() string {
	return fmt.Sprintf("%d:%d", nonrootUID, nonrootUID)
}

// baseEntries is the filesystem every image starts from. The passwd and
// group entries exist so that a process (or a person in a debug
// container) looking up its own id finds a name instead of failing; the
// home directory does not exist because nothing writes there and the
// chart mounts the root filesystem read-only. /tmp is a world-writable
// sticky directory like everywhere else, for a runtime that does not
// mount one.
func baseEntries() []fileEntry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		fmt.Sprintf("%s:x:%d:%d:%s:/nonexistent:/sbin/nologin\n", nonrootName, nonrootUID, nonrootUID, nonrootName)
	group := "root:x:0:\n" +
		fmt.Sprintf("%s:x:%d:\n", nonrootName, nonrootUID)
	return []fileEntry{
		{path: "etc", mode: 0o755, dir: true},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "tmp", mode: 0o1777, dir: true},
	}
}

// baseLayer is the layer of baseEntries; it is the same in every image
// and architecture, so a registry and a node store it once.
func baseLayer(created time.Time) (v1.Layer, error) {
	layer, err := newLayer(baseEntries(), created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	return layer, nil
}

// binaryEntries puts one program's binary at its path, owned by root and
// not writable by the user the program runs as.
func binaryEntries(p Program, binary []byte) []fileEntry {
	return []fileEntry{
		{path: "usr", mode: 0o755, dir: true},
		{path: "usr/local", mode: 0o755, dir: true},
		{path: "usr/local/bin", mode: 0o755, dir: true},
		{path: "usr/local/bin/" + p.Name, mode: 0o755, data: binary},
	}
}
