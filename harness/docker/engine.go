package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Labels on everything this package creates (containers, networks,
// volumes). Cleanup finds leftovers by LabelManaged; Close removes one
// run's resources by LabelRun.
const (
	LabelManaged = "org.raftcheck"      // always "true"
	LabelRun     = "org.raftcheck.run"  // Config.RunID
	LabelNode    = "org.raftcheck.node" // n1..nN; "partition-helper" for helpers
	// LabelOwner is "host:pid" of the process that started the run, so
	// CleanupOrphans can tell a live run from an interrupted one.
	LabelOwner = "org.raftcheck.owner"
)

const reaperEnv = "TESTCONTAINERS_RYUK_DISABLED"

// Available returns nil if a Docker engine answers, else an error that
// says what is wrong and what to do.
func Available(ctx context.Context) error {
	p, err := newProvider(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer p.Close()
	return ping(ctx, p.Client())
}

// newProvider returns a testcontainers provider whose Client() is the
// moby engine client used for what testcontainers does not wrap.
//
// Ryuk, testcontainers' reaper, is an image pulled from a registry, and
// this package removes what it creates itself (Close, Cleanup), so the
// reaper is switched off: TESTCONTAINERS_RYUK_DISABLED=true is set in the
// process environment if it is unset. testcontainers reads its
// configuration once per process, so this must happen before any other
// testcontainers call; an explicit value is left alone.
func newProvider(log *slog.Logger) (*testcontainers.DockerProvider, error) {
	if _, set := os.LookupEnv(reaperEnv); !set {
		if err := os.Setenv(reaperEnv, "true"); err != nil {
			return nil, fmt.Errorf("set %s: %w", reaperEnv, err)
		}
	}
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{log}))
	if err != nil {
		return nil, fmt.Errorf("no Docker engine answered at %s: start dockerd or set DOCKER_HOST: %w", dockerHost(), err)
	}
	return p, nil
}

func ping(ctx context.Context, api client.APIClient) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("no Docker engine answered at %s: start dockerd or set DOCKER_HOST: %w", api.DaemonHost(), err)
	}
	return nil
}

func dockerHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock (DOCKER_HOST unset)"
}

// tcLogger sends testcontainers' chatter to slog at debug level.
type tcLogger struct{ log *slog.Logger }

func (l tcLogger) Printf(format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "testcontainers")
}
