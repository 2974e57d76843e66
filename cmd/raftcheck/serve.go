package main

import (
	"context"
	"errors"
	"io"
)

// cmdServe serves the results store. (Being built: see issue 5.)
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	return exitHarness, errors.New("serve is not built yet")
}
