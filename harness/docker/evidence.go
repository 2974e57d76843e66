package docker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/server"
)

// Evidence checks whether the action took effect and says what it saw:
//
//   - partition: from every live node, a TCP connect to each live peer's
//     peer port times out where the grudge cuts the pair (either way: TCP
//     needs both directions) and succeeds where it does not; for an
//     isolate-* partition, the isolated node also stops being leader
//     within a few election timeouts (CheckQuorum).
//   - heal: every live pair connects.
//   - kill: the container is stopped and its process gone.
//   - start: the container runs and the node answers its status.
//   - pause / resume: the container is frozen / running and thawed.
//   - degrade, restore-links, lose-unfsynced, corrupt, and the start of a
//     corrupted node: see evidence_extra.go.
//   - remove, add, replace, transfer-leader: the configuration every
//     member reported before and after each change (membership.go).
//
// Call it right after the action. It takes about a second for
// partition and heal (connect attempts time out after 1 s), up to a few
// election timeouts for isolate-*, and milliseconds otherwise.
func (c *Cluster) Evidence(ctx context.Context, a nemesis.Action) (bit bool, detail string) {
	switch a.F {
	case "partition":
		// Leadership first: its timing then says how long the isolated
		// leader took to step down after the partition.
		down, lead := true, ""
		if v := isolated(c.Nodes(), a.Grudge); v != "" && strings.HasPrefix(a.Name, "isolate") {
			down, lead = c.steppedDown(ctx, v)
			lead = "; " + lead
		}
		bit, detail = c.connectivity(ctx, a.Grudge)
		return bit && down, detail + lead
	case "heal":
		return c.connectivity(ctx, nil)
	case "start":
		if c.corruptedAmong(a.Nodes) {
			return c.reactionEvidence(ctx, a)
		}
		return c.stateEvidence(ctx, a)
	case "kill", "pause", "resume":
		return c.stateEvidence(ctx, a)
	case "degrade":
		return c.degradeEvidence(ctx, a)
	case "restore-links":
		return c.restoreEvidence(ctx)
	case "lose-unfsynced":
		return c.loseEvidence(ctx, a)
	case "corrupt":
		return c.corruptEvidence(a)
	case "remove", "add", "replace", "transfer-leader":
		return c.membershipEvidence(a)
	}
	return false, fmt.Sprintf("no evidence check for %q", a.F)
}

// probe (args: port, seconds, IPs) tries a TCP connect to each IP's port,
// all at once, and prints "IP exit-code": 0 connected, 124 timed out
// (dropped), other refused or unreachable.
const probe = `port=$1; secs=$2; shift 2; for t in "$@"; do ( timeout "$secs" bash -c "exec 3<>/dev/tcp/$t/$port" 2>/dev/null; echo "$t $?" ) & done; wait`

type pair struct{ from, to *node }

// connectivity checks every ordered pair of live nodes against g. A pair
// that should connect but did not is probed again with a longer timeout
// before it counts: on a loaded machine starting bash alone can take a
// second.
func (c *Cluster) connectivity(ctx context.Context, g nemesis.Grudge) (bool, string) {
	live := map[*node]bool{}
	for _, n := range c.nodes {
		if st, err := c.inspect(ctx, n); err == nil && st.Running {
			live[n] = !st.Paused // paused: can be probed, cannot probe
		}
	}
	var pairs []pair
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if _, ok := live[to]; ok && live[from] && from != to {
				pairs = append(pairs, pair{from, to})
			}
		}
	}
	wantCut := func(p pair) bool { return g.Cuts(p.from.name, p.to.name) || g.Cuts(p.to.name, p.from.name) }
	want := func(p pair) string {
		if wantCut(p) {
			return "124"
		}
		return "0"
	}
	codes := c.probePairs(ctx, pairs, 1)
	var again []pair
	for _, p := range pairs {
		if codes[p] != want(p) && codes[p] != "0" {
			again = append(again, p)
		}
	}
	maps.Copy(codes, c.probePairs(ctx, again, 5))
	var bad []string
	cut, open := 0, 0
	for _, p := range pairs {
		got := codes[p]
		switch {
		case got == want(p) && wantCut(p):
			cut++
		case got == want(p):
			open++
		case wantCut(p):
			bad = append(bad, fmt.Sprintf("%s->%s %s, want cut", p.from.name, p.to.name, got))
		default:
			bad = append(bad, fmt.Sprintf("%s->%s %s, want open", p.from.name, p.to.name, got))
		}
	}
	slices.Sort(bad)
	summary := fmt.Sprintf("connect probes: %d cut as expected, %d open as expected", cut, open)
	if len(bad) > 0 {
		return false, summary + "; wrong: " + strings.Join(bad, ", ")
	}
	if g != nil && cut == 0 {
		return false, summary + "; no cut pair could be probed"
	}
	return true, summary
}

// probePairs runs one probe exec per source node, in parallel, and
// returns each pair's exit code ("error: ..." if the exec failed).
func (c *Cluster) probePairs(ctx context.Context, pairs []pair, seconds int) map[pair]string {
	byFrom := map[*node][]*node{}
	for _, p := range pairs {
		byFrom[p.from] = append(byFrom[p.from], p.to)
	}
	codes := map[pair]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for from, tos := range byFrom {
		wg.Go(func() {
			args := []string{"bash", "-c", probe, "probe", strconv.Itoa(c.cfg.Target.PeerPort), strconv.Itoa(seconds)}
			byIP := map[string]*node{}
			for _, to := range tos {
				args = append(args, to.ip.String())
				byIP[to.ip.String()] = to
			}
			_, out, err := c.exec(ctx, from, args...)
			mu.Lock()
			defer mu.Unlock()
			for _, to := range tos {
				codes[pair{from, to}] = fmt.Sprintf("error: %v", err)
			}
			if err != nil {
				return
			}
			for _, line := range strings.Split(out, "\n") {
				ip, code, ok := strings.Cut(strings.TrimSpace(line), " ")
				if to := byIP[ip]; ok && to != nil {
					codes[pair{from, to}] = code
				}
			}
		})
	}
	wg.Wait()
	return codes
}

// isolated returns the node the grudge cuts off from all others, or "".
func isolated(nodes []string, g nemesis.Grudge) string {
	for _, v := range nodes {
		all := true
		for _, o := range nodes {
			if o != v && !(g.Cuts(o, v) && g.Cuts(v, o)) {
				all = false
				break
			}
		}
		if all {
			return v
		}
	}
	return ""
}

// steppedDown polls v's status until it no longer claims leadership, for
// at most four election timeouts.
func (c *Cluster) steppedDown(ctx context.Context, v string) (bool, string) {
	n := c.byName[v]
	limit := 4 * c.cfg.Target.ElectionTimeout
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	role := "unknown"
	for {
		sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
		st, err := c.status(sctx, n)
		scancel()
		if err == nil {
			role = st.Role
			if st.Role != "leader" {
				return true, fmt.Sprintf("isolated %s is %s after %v", v, st.Role, time.Since(began).Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return false, fmt.Sprintf("isolated %s still %s after %v", v, role, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// electionTimeout finds --election-timeout in raftnode's flags.
func electionTimeout(args []string) time.Duration {
	d := server.DefaultElectionTimeout
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		val, found := strings.CutPrefix(a, "election-timeout=")
		if !found && a == "election-timeout" && i+1 < len(args) {
			val, found = args[i+1], true
		}
		if found {
			if v, err := time.ParseDuration(val); err == nil {
				d = v
			}
		}
	}
	return d
}

func (c *Cluster) stateEvidence(ctx context.Context, a nemesis.Action) (bool, string) {
	if len(a.Nodes) == 0 {
		return false, a.F + " names no node"
	}
	bit := true
	var details []string
	for _, name := range a.Nodes {
		n, err := c.node(name)
		if err != nil {
			return false, err.Error()
		}
		st, err := c.inspect(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		var ok bool
		var d string
		switch a.F {
		case "kill":
			ok = !st.Running && st.Pid == 0
			d = fmt.Sprintf("%s %s, exit code %d, pid %d", name, st.Status, st.ExitCode, st.Pid)
		case "pause":
			ok = st.Paused
			d = fmt.Sprintf("%s %s", name, st.Status)
		case "resume":
			ok = st.Running && !st.Paused
			d = fmt.Sprintf("%s %s", name, st.Status)
		case "start":
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			s, err := c.status(sctx, n)
			cancel()
			ok = st.Running && !st.Paused && err == nil
			d = fmt.Sprintf("%s %s, pid %d", name, st.Status, st.Pid)
			if err != nil {
				d += ", status: " + err.Error()
			} else {
				d += ", " + s.Role + " in term " + strconv.FormatUint(s.Term, 10)
			}
		}
		bit = bit && ok
		details = append(details, d)
	}
	return bit, strings.Join(details, "; ")
}
