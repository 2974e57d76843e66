// Command netdelay is the transparent delaying proxy of harness/netdelay,
// run inside a node's container.
//
//	netdelay serve --listen 0.0.0.0:17000 --delays /etc/raftcheck/delay [--stats /run/netdelay.json]
//	netdelay stats [--stats /run/netdelay.json]
//
// serve accepts the connections an iptables REDIRECT sends it, and holds
// the data from each source IP for the delay the delay file names for it
// (re-read every 100 ms). It writes what it did to the stats file every
// 200 ms; stats prints that file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftcheck/raftcheck/harness/netdelay"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "netdelay:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: netdelay serve|stats [flags]")
	}
	fs := flag.NewFlagSet("netdelay "+args[0], flag.ContinueOnError)
	statsFile := fs.String("stats", "/run/netdelay.json", "where serve writes what it did")
	switch args[0] {
	case "serve":
		listen := fs.String("listen", "0.0.0.0:17000", "where the REDIRECTed connections arrive")
		delays := fs.String("delays", "/etc/raftcheck/delay", "the delay file: IP DURATION per line")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serve(*listen, *delays, *statsFile)
	case "stats":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		b, err := os.ReadFile(*statsFile)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	}
	return fmt.Errorf("unknown command %q: serve or stats", args[0])
}

func serve(listen, delays, statsFile string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	addr, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		return err
	}
	ln, err := net.ListenTCP("tcp", addr)
	if err != nil {
		return err
	}
	p := netdelay.New(log)
	go p.Watch(ctx, delays, 100*time.Millisecond)
	go func() {
		for ctx.Err() == nil {
			if b, err := json.Marshal(p.Stats()); err == nil {
				tmp := statsFile + ".tmp"
				if os.WriteFile(tmp, append(b, '\n'), 0o644) == nil {
					os.Rename(tmp, statsFile)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return p.Serve(ctx, ln)
}
