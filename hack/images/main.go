// Command images builds bgplb's container images and packages its Helm
// chart (make images), and pushes both to an OCI registry (make push),
// without a container daemon. internal/ociimage does the work; this file
// only reads flags.
//
//	go run ./hack/images build -version v0.1.0 -revision <sha> -source-date-epoch <unix time>
//	go run ./hack/images push -registry registry.example.com/bgplb
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bgplb/bgplb/internal/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

const usage = "usage: images build|push [flags]; images <command> -h lists the flags"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command; %s", usage)
	}
	switch args[0] {
	case "build":
		return build(ctx, args[1:], stdout)
	case "push":
		return push(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

func build(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("images build", flag.ContinueOnError)
	opts := ociimage.Options{Programs: ociimage.Programs(), Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}}
	fs.StringVar(&opts.ModuleDir, "module", ".", "root of the bgplb module")
	fs.StringVar(&opts.OutDir, "out", ".cache/images", "output folder")
	fs.StringVar(&opts.Source.Version, "version", "", "version (git describe), also the images' tag")
	fs.StringVar(&opts.Source.Revision, "revision", "", "full commit hash")
	fs.StringVar(&opts.Source.URL, "source", "https://github.com/bgplb/bgplb", "source repository URL (org.opencontainers.image.source)")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "creation time of everything built, as Unix seconds (the commit time)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated platforms of every image")
	fs.StringVar(&opts.ImageRegistry, "image-registry", "", "registry host/path the images are named after in the archives")
	fs.StringVar(&opts.ChartDir, "chart", "charts/bgplb", "Helm chart folder to package; empty for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	seconds, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-source-date-epoch %q: not a number of seconds: %w", *epoch, err)
	}
	opts.Source.Created = time.Unix(seconds, 0)
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-platforms: %q: %w", s, err)
		}
		opts.Platforms = append(opts.Platforms, *p)
	}
	result, err := ociimage.Build(ctx, opts)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT\tPLATFORM\tCOMPRESSED\tDIGEST")
	for _, a := range result.Artifacts {
		for _, s := range a.Sizes {
			platform := s.Platform
			if platform == "" {
				platform = "-"
			}
			fmt.Fprintf(tw, "%s:%s\t%s\t%s\t%s\n", a.Repository, a.Tag, platform, humanSize(s.Bytes), a.Digest)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "OCI layouts and archives in %s; chart %s\n", opts.OutDir, result.ChartArchive)
	return nil
}

func push(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("images push", flag.ContinueOnError)
	var opts ociimage.PushOptions
	out := fs.String("out", ".cache/images", "folder a build wrote")
	fs.StringVar(&opts.Registry, "registry", "", "registry host/path to push to (required)")
	fs.BoolVar(&opts.Insecure, "insecure", false, "plain HTTP to the registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opts.Registry == "" {
		return fmt.Errorf("-registry is required (make push REGISTRY=host/path)")
	}
	pushed, err := ociimage.Push(ctx, *out, opts)
	for _, p := range pushed {
		fmt.Fprintf(stdout, "pushed %s@%s\n", p.Reference, p.Digest)
	}
	return err
}

// humanSize prints a size in decimal units, as registries show them.
func humanSize(bytes int64) string {
	if bytes >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(bytes)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(bytes)/1e3)
}
