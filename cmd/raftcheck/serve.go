package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/raftcheck/raftcheck/harness/report"
)

// shutdownGrace bounds how long serve waits for requests in flight when
// it is stopped.
const shutdownGrace = 5 * time.Second

// cmdServe serves the results store until ctx is done (Ctrl-C). It prints
// the address it listens on, so that --addr 127.0.0.1:0 can be used.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck serve", flag.ContinueOnError)
	results := fs.String("results", "results", "directory of the results store")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	h, err := report.NewHandler(*results)
	if err != nil {
		return exitHarness, err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return exitHarness, fmt.Errorf("%w: --addr: %v", errUsage, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	fmt.Fprintf(stdout, "raftcheck serve: %s at http://%s/ (Ctrl-C stops)\n", *results, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return exitHarness, fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return exitHarness, fmt.Errorf("shut down: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return exitHarness, fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(stdout, "raftcheck serve: stopped")
	return exitValid, nil
}
