// Command lazyfs mounts a directory that forgets everything not fsynced
// when told to (see harness/lazyfs), and tells a running mount what to do.
//
//	lazyfs mount --backing DIR --mountpoint DIR [--journal] [--control SOCKET]
//	lazyfs stats [--control SOCKET]   # the volatile layer, as JSON
//	lazyfs lose  [--control SOCKET]   # discard it and fence the mount; prints what was discarded
//
// mount runs in the foreground until SIGTERM or SIGINT, then unmounts
// without writing anything volatile. It needs CAP_SYS_ADMIN and
// /dev/fuse (in a container: --device /dev/fuse --cap-add SYS_ADMIN).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftcheck/raftcheck/harness/lazyfs"
)

const defaultControl = "/run/lazyfs.sock"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lazyfs:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: lazyfs mount|stats|lose [flags]")
	}
	fs := flag.NewFlagSet("lazyfs "+args[0], flag.ContinueOnError)
	control := fs.String("control", defaultControl, "the control socket")
	switch args[0] {
	case "mount":
		backing := fs.String("backing", "", "the directory that holds what is durable")
		mountpoint := fs.String("mountpoint", "", "where to mount")
		journal := fs.Bool("journal", false, "any fsync commits every pending file name (as ext4's journal does); default: a name needs its directory's fsync")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return mount(lazyfs.Options{Backing: *backing, Mountpoint: *mountpoint, Journal: *journal}, *control)
	case "stats", "lose":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := lazyfs.Control(ctx, *control, args[0])
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(st)
	}
	return fmt.Errorf("unknown command %q: mount, stats or lose", args[0])
}

func mount(opts lazyfs.Options, control string) error {
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	f, err := lazyfs.Mount(opts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- f.ServeControl(ctx, control) }()
	unmounted := make(chan struct{})
	go func() { f.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
	case err = <-served:
	case <-unmounted:
		return nil
	}
	if uerr := f.Unmount(); uerr != nil {
		err = errors.Join(err, uerr)
	}
	return err
}
