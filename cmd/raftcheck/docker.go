package main

import (
	"context"
	"errors"
	"io"

	"github.com/raftcheck/raftcheck/harness"
)

// runDocker runs a test against a cluster in containers.
func runDocker(ctx context.Context, cfg harness.TestConfig, stdout io.Writer) (harness.Outcome, error) {
	return harness.Outcome{}, errors.New("the docker backend is not built yet: use --backend sim")
}
