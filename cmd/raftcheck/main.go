// Command raftcheck tests a Raft system for linearizability under faults.
//
//	raftcheck test  [flags]   run one test (docker or simulator), check it, store it
//	raftcheck sim   [flags]   run many seeds in the simulator until one fails
//	raftcheck check PATH      re-check a stored run or history file
//	raftcheck cleanup         remove leftovers of an interrupted docker run
//
// Exit status: 0 linearizable, 1 not linearizable, 2 unknown, 3 the
// harness itself failed (including bad flags).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/raftcheck/raftcheck/harness/store"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Exit statuses, Jepsen's plus one for harness failures.
const (
	exitValid   = store.ExitValid
	exitInvalid = store.ExitInvalid
	exitUnknown = store.ExitUnknown
	exitNotLive = store.ExitNotLive
	exitHarness = store.ExitHarness
)

const usage = `raftcheck: prove a Raft system linearizable under faults

usage:
  raftcheck test  [--backend docker|sim] [--nodes 5] [--nemesis partition,kill,pause] [--time-limit 60s] ...
  raftcheck sim   --seeds N [--seed START] [--unsafe MODE] [test flags]
  raftcheck check PATH        (a run directory or a history.jsonl)
  raftcheck shrink RUN [--time-budget 3m]   the smallest simulated run that still fails the same way
  raftcheck cleanup           remove containers and networks left by an interrupted run
  raftcheck campaign --spec FILE [--junit PATH] [--shard I/N]   run the tests a YAML spec lists
  raftcheck campaign merge --out DIR SHARD_RESULTS...   merge a sharded campaign's results
  raftcheck serve [--results results] [--addr 127.0.0.1:8080]   browse the results store

Run 'raftcheck COMMAND -h' for a command's flags.
Exit status: 0 linearizable, 1 not linearizable (or a Raft invariant broken),
2 unknown, 3 harness error, 4 not live (no leader and write within 10
election timeouts of the final heal, or a simulation whose clock stopped).
`

func main() {
	// testcontainers prints a banner through its package logger; our
	// output is the progress line and the summary.
	tclog.SetDefault(log.New(io.Discard, "", 0))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitHarness
	}
	var code int
	var err error
	switch args[0] {
	case "test":
		code, err = cmdTest(ctx, args[1:], stdout, stderr)
	case "sim":
		code, err = cmdSim(ctx, args[1:], stdout, stderr)
	case "check":
		code, err = cmdCheck(ctx, args[1:], stdout, stderr)
	case "shrink":
		code, err = cmdShrink(ctx, args[1:], stdout, stderr)
	case "cleanup":
		code, err = cmdCleanup(ctx, args[1:], stdout)
	case "campaign":
		code, err = cmdCampaign(ctx, args[1:], stdout, stderr)
	case "serve":
		code, err = cmdServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitValid
	default:
		fmt.Fprintf(stderr, "raftcheck: unknown command %q\n\n%s", args[0], usage)
		return exitHarness
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitValid
	case err != nil:
		fmt.Fprintf(stderr, "raftcheck %s: %v\n", args[0], err)
		return exitHarness
	}
	return code
}
