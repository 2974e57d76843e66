package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/raftcheck/raftcheck/harness/store"
)

// ImageID returns the content ID of a local image; an image that is not
// there is an error saying how to build it.
func ImageID(ctx context.Context, image string) (string, error) {
	p, err := newProvider(slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	defer p.Close()
	res, err := p.Client().ImageInspect(ctx, image)
	if cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("image %s not found: %s", image, buildHint(image))
	}
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", image, err)
	}
	return res.ID, nil
}

// images maps the images raftcheck builds itself to their make target.
var images = map[string]string{DefaultImage: "image", EtcdImage: "etcd-image"}

func buildHint(image string) string {
	if t, ok := images[image]; ok {
		return fmt.Sprintf("build it with `make %s` in a raftcheck checkout", t)
	}
	return "build or load it first (docker images lists what is here)"
}

// EnsureImage builds one of raftcheck's own images when it is missing,
// as `make test-jepsen` builds raftnode's: with `make`, from the raftcheck
// checkout that holds the working directory, its output on out. Another
// image that is missing is an error.
func EnsureImage(ctx context.Context, image string, out io.Writer) error {
	_, err := ImageID(ctx, image)
	if err == nil {
		return nil
	}
	target, ok := images[image]
	if !ok {
		return err // not one of ours: its message says how to get it
	}
	root, err := checkoutRoot()
	if err != nil {
		return fmt.Errorf("image %s is missing and cannot be built here: %w; build it with `make %s` in a raftcheck checkout", image, err, target)
	}
	fmt.Fprintf(out, "image %s is missing: building it with `make %s` in %s (the first time takes a few minutes)...\n", image, target, root)
	cmd := exec.CommandContext(ctx, "make", "-C", root, target)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building image %s with `make -C %s %s` failed: %w (its output is above)", image, root, target, err)
	}
	_, err = ImageID(ctx, image)
	return err
}

// checkoutRoot finds the raftcheck checkout holding the working
// directory: the nearest directory up with docker.mk and the Dockerfiles.
func checkoutRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "docker.mk")) && fileExists(filepath.Join(dir, "Dockerfile.etcd")) {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("the working directory is not inside a raftcheck checkout")
		}
		dir = up
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ImageFor is the image a run of tc uses: override (--image) if given,
// else the image a stored configuration recorded, else the target's.
func ImageFor(tc store.TestConfig, override string) string {
	var set Settings
	_ = json.Unmarshal(tc.BackendConfig, &set) // none recorded: set stays empty
	return cmp.Or(override, set.Image, target(tc).Image)
}
