package main

import (
	"context"
	"errors"
	"io"
)

// cmdCampaign runs a campaign spec. (Being built: see issue 5.)
func cmdCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	return exitHarness, errors.New("campaigns are not built yet")
}
