// Package dockertest decides whether tests that need Docker run. They are
// opt-in (RAFTCHECK_DOCKER_TESTS=1, which .ci/run sets where an engine
// answers), because they take minutes; without an engine or the image
// they skip with a message saying what is missing.
package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"
)

// Image is the raftnode image the tests run (harness/docker.DefaultImage).
const Image = "raftcheck/raftnode:dev"

// EtcdImage is the etcd image the tests run (harness/docker.EtcdImage).
const EtcdImage = "raftcheck/etcd:dev"

var prepare = sync.OnceValue(func() string {
	if os.Getenv("RAFTCHECK_DOCKER_TESTS") != "1" {
		return "Docker tests are opt-in: set RAFTCHECK_DOCKER_TESTS=1 (.ci/run does where an engine answers)"
	}
	ctx := context.Background()
	if os.Getenv("RAFTCHECK_DOCKER_BUILD") == "1" {
		if err := buildImage(); err != nil {
			return "building the image failed: " + err.Error()
		}
	}
	api, err := client.New(client.FromEnv)
	if err != nil {
		return "no Docker engine: " + err.Error()
	}
	defer api.Close()
	if _, err := api.Ping(ctx, client.PingOptions{}); err != nil {
		return "no Docker engine answered: " + err.Error()
	}
	if _, err := api.ImageInspect(ctx, Image); err != nil {
		return fmt.Sprintf("image %s missing: run `make image` (or set RAFTCHECK_DOCKER_BUILD=1)", Image)
	}
	return ""
})

// Need skips t unless Docker tests can run.
func Need(t testing.TB) {
	t.Helper()
	if reason := prepare(); reason != "" {
		t.Skip(reason)
	}
}

// NeedEtcd skips t unless Docker tests can run and the etcd image
// exists (with RAFTCHECK_DOCKER_BUILD=1 it is built first).
func NeedEtcd(t testing.TB) {
	t.Helper()
	Need(t)
	if reason := prepareEtcd(); reason != "" {
		t.Skip(reason)
	}
}

var prepareEtcd = sync.OnceValue(func() string {
	if os.Getenv("RAFTCHECK_DOCKER_BUILD") == "1" {
		if err := build([]string{"make", "etcd-image", "ETCD_IMAGE=" + EtcdImage}); err != nil {
			return "building the etcd image failed: " + err.Error()
		}
	}
	api, err := client.New(client.FromEnv)
	if err != nil {
		return "no Docker engine: " + err.Error()
	}
	defer api.Close()
	if _, err := api.ImageInspect(context.Background(), EtcdImage); err != nil {
		return fmt.Sprintf("image %s missing: run `make etcd-image` (or set RAFTCHECK_DOCKER_BUILD=1)", EtcdImage)
	}
	return ""
})

// buildImage builds the raftnode image as `make image` does.
func buildImage() error {
	return build(
		[]string{"scripts/base-image.sh"},
		[]string{"go", "build", "-trimpath", "-o", "bin/raftnode", "./cmd/raftnode"},
		[]string{"go", "build", "-trimpath", "-o", "bin/lazyfs", "./cmd/lazyfs"},
		[]string{"go", "build", "-trimpath", "-o", "bin/netdelay", "./cmd/netdelay"},
		[]string{"docker", "build", "-q", "-f", "Dockerfile.node", "-t", Image, "."},
	)
}

// build runs commands in the repository's root, stopping at the first
// that fails.
func build(cmds ...[]string) error {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, args := range cmds {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
