package ociimage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// The media types Helm gives a chart stored in an OCI registry (Helm's
// registry package; helm push writes and helm pull expects them).
const (
	HelmConfigMediaType types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType  types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// packagedChart is a chart as helm package writes it, and what a registry
// stores of it.
type packagedChart struct {
	name    string
	version string
	// archive is the .tgz.
	archive []byte
	// artifact is the OCI form: the chart's metadata as config, the
	// archive as the only layer.
	artifact v1.Image
}

// packageChart loads the chart folder and packages it as helm package
// does, with two differences: appVersion becomes the images' version, so
// that the chart deploys the images built with it by default (as helm
// package --app-version does); and every file's time is the source's
// creation time, so that the archive is reproducible.
func packageChart(dir string, src Source) (*packagedChart, error) {
	chart, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %q: %w", dir, err)
	}
	chart.Metadata.AppVersion = src.Version
	chart.StampModTimes(src.created())
	tmp, err := os.MkdirTemp("", "bgplb-chart-")
	if err != nil {
		return nil, fmt.Errorf("package chart %q: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	file, err := chartutil.Save(chart, tmp)
	if err != nil {
		return nil, fmt.Errorf("package chart %q: %w", dir, err)
	}
	archive, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("package chart %q: %w", dir, err)
	}
	img, err := chartArtifact(chart.Metadata, archive, src)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", dir, err)
	}
	return &packagedChart{name: chart.Name(), version: chart.Metadata.Version, archive: archive, artifact: img}, nil
}

// chartArtifact is the chart as helm push stores it: the metadata as JSON
// in the config, the archive as the layer, and the annotations helm push
// derives from the metadata; created is the source's time instead of the
// time of pushing.
func chartArtifact(meta *chartv2.Metadata, archive []byte, src Source) (v1.Image, error) {
	config, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("chart metadata: %w", err)
	}
	annotations := map[string]string{}
	for k, v := range meta.Annotations {
		annotations[k] = v
	}
	set := func(key, value string) {
		if value != "" {
			annotations[key] = value
		}
	}
	set("org.opencontainers.image.title", meta.Name)
	set("org.opencontainers.image.version", meta.Version)
	set("org.opencontainers.image.description", meta.Description)
	set("org.opencontainers.image.url", meta.Home)
	set("org.opencontainers.image.source", src.URL)
	set("org.opencontainers.image.revision", src.Revision)
	set("org.opencontainers.image.created", src.created().Format(time.RFC3339))
	layer := static.NewLayer(bytes.Clone(archive), HelmChartMediaType)
	return newArtifact(HelmConfigMediaType, config, []v1.Layer{layer}, annotations)
}
