package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/raftcheck/raftcheck/harness/netdelay"
	"github.com/raftcheck/raftcheck/nemesis"
)

var _ nemesis.Faults = (*Cluster)(nil)

// In every node image (scripts/node/): the partition script, and the file
// the entrypoint reads to re-apply a partition when a killed node
// restarts.
const (
	partitionCmd = "/usr/local/bin/raftcheck-partition"
	lossCmd      = "/usr/local/bin/raftcheck-loss"
	dropFileDir  = "/etc"
	dropFileRel  = "raftcheck/drop"
	lossFileRel  = "raftcheck/loss"
	delayFileRel = "raftcheck/delay"
)

// Partition makes each node drop every packet from the nodes its grudge
// names (iptables INPUT rules by source IP, in a chain of its own that is
// replaced atomically), replacing any partition in force. A running node
// gets the rules by exec; a paused one through a short-lived helper
// container that shares its network namespace (exec cannot enter a frozen
// container); a killed one when it is started again, by its entrypoint,
// before the target's program runs.
func (c *Cluster) Partition(ctx context.Context, g nemesis.Grudge) error {
	for to, froms := range g {
		if _, err := c.node(to); err != nil {
			return fmt.Errorf("partition: %w", err)
		}
		for _, from := range froms {
			if _, err := c.node(from); err != nil {
				return fmt.Errorf("partition: %w", err)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.grudge = maps.Clone(g)
	return c.applyAll(ctx)
}

// Heal removes every partition.
func (c *Cluster) Heal(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.grudge = nil
	return c.applyAll(ctx)
}

func (c *Cluster) applyAll(ctx context.Context) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = c.apply(ctx, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dropIPs lists the source IPs n must drop under the current grudge.
func (c *Cluster) dropIPs(n *node) []string {
	var ips []string
	for _, from := range c.grudge[n.name] {
		if f := c.byName[from]; f != nil {
			ips = append(ips, f.ip.String())
		}
	}
	slices.Sort(ips)
	return ips
}

func (c *Cluster) apply(ctx context.Context, n *node) error {
	st, err := c.inspect(ctx, n)
	if err != nil {
		return err
	}
	return c.netScript(ctx, n, st, "partition", append([]string{partitionCmd}, c.dropIPs(n)...))
}

// netScript runs one of the images' iptables scripts in n's network
// namespace: by exec in a running node, through a helper container in a
// paused one; a stopped node gets it from its entrypoint when started
// (see writeFaultFiles).
func (c *Cluster) netScript(ctx context.Context, n *node, st *container.State, what string, cmd []string) error {
	switch {
	case st.Paused:
		return c.applyViaHelper(ctx, n, what, cmd)
	case st.Running:
		code, out, err := c.exec(ctx, n, cmd...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, n.name, err)
		}
		if code != 0 {
			return fmt.Errorf("%s %s: %s exited %d: %s (does the container have NET_ADMIN?)", what, n.name, cmd[0], code, out)
		}
		return nil
	default:
		return nil
	}
}

// applyViaHelper runs a network script in a throwaway container that
// joins n's network namespace, which a paused container still owns.
func (c *Cluster) applyViaHelper(ctx context.Context, n *node, what string, cmd []string) error {
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: c.cfg.Target.Image, Entrypoint: cmd[:1], Cmd: cmd[1:],
			Labels: c.labels(what + "-helper")},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode("container:" + n.ctr.GetContainerID()),
			CapAdd: []string{"NET_ADMIN"}},
	})
	if err != nil {
		return fmt.Errorf("%s paused %s: create helper: %w", what, n.name, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := c.api.ContainerRemove(rctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			c.log.Warn("remove "+what+" helper (raftcheck cleanup removes it)", "id", created.ID[:12], "err", err)
		}
	}()
	wait := c.api.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("%s paused %s: start helper: %w", what, n.name, err)
	}
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			return fmt.Errorf("%s paused %s: helper exited %d: %s", what, n.name, res.StatusCode, c.containerOutput(ctx, created.ID))
		}
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("%s paused %s: wait for helper: %w", what, n.name, err)
	}
}

// Kill sends SIGKILL to the node's process (the container's init) and
// returns once the container has stopped. Killing a stopped node is a
// no-op.
func (c *Cluster) Kill(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.inspect(ctx, n)
	if err != nil {
		return err
	}
	if !st.Running {
		return nil
	}
	wait := c.api.ContainerWait(ctx, n.ctr.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	if _, err := c.api.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		// It may have stopped on its own since the inspection (etcd exits
		// once it learns it was removed): down is what was asked for.
		if st, ierr := c.inspect(ctx, n); ierr == nil && !st.Running {
			return nil
		}
		return fmt.Errorf("kill %s: %w", name, err)
	}
	select {
	case <-wait.Result:
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("kill %s: wait for it to stop: %w", name, err)
	}
}

// Start starts a killed node again: the same container, so the same data
// volume, IP and host port. The partition in force is applied by the
// entrypoint before the program runs. It returns once the node answers
// its status, or, for a target whose status needs a quorum (etcd), once
// it listens on its client port. Starting a running node, or a slot whose
// member was removed, is a no-op.
func (c *Cluster) Start(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.memMu.Lock()
	removed := n.removed
	c.memMu.Unlock()
	if removed {
		return nil // its member is gone: only AddMember brings the slot back
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.inspect(ctx, n)
	if err != nil {
		return err
	}
	if st.Running {
		return nil
	}
	if err := c.writeFaultFiles(ctx, n); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if _, err := c.api.ContainerStart(ctx, n.ctr.GetContainerID(), client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if c.cfg.Target.StatusNeedsQuorum {
		return c.waitUp(ctx, n, 30*time.Second, "a connect to its client port", func(ctx context.Context) error {
			return c.listening(ctx, n)
		})
	}
	return c.waitStatus(ctx, n, 30*time.Second)
}

// listening checks, from inside the container, that the program accepts
// connections on its client port. (From outside, Docker's port proxy
// accepts them whether or not anything listens.)
func (c *Cluster) listening(ctx context.Context, n *node) error {
	code, out, err := c.exec(ctx, n, "bash", "-c", probe, "probe", strconv.Itoa(c.cfg.Target.ClientPort), "1", "127.0.0.1")
	switch {
	case err != nil:
		return err
	case code != 0 || !strings.HasSuffix(out, " 0"):
		return fmt.Errorf("nothing listens on port %d yet (probe: %q)", c.cfg.Target.ClientPort, out)
	}
	return nil
}

// writeFaultFiles stores the network faults in force for the entrypoint
// to apply at the next start: the IPs to drop, and the loss probability
// with the IPs it applies to; and the delays, which netdelay also reads
// while it runs. The engine copies into stopped containers too.
func (c *Cluster) writeFaultFiles(ctx context.Context, n *node) error {
	files := map[string]string{dropFileRel: strings.Join(c.dropIPs(n), "\n") + "\n", lossFileRel: "",
		delayFileRel: string(netdelay.FormatDelays(c.delays(n)))}
	if p, ips := c.lossArgs(n); len(ips) > 0 {
		files[lossFileRel] = p + "\n" + strings.Join(ips, "\n") + "\n"
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir, _, _ := strings.Cut(dropFileRel, "/")
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return err
	}
	for _, name := range []string{dropFileRel, lossFileRel, delayFileRel} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := c.api.CopyToContainer(ctx, n.ctr.GetContainerID(), client.CopyToContainerOptions{
		DestinationPath: dropFileDir, Content: &buf})
	if err != nil {
		return fmt.Errorf("write %s/%s: %w", dropFileDir, dir, err)
	}
	return nil
}

// Pause freezes every process of the node (the cgroup freezer).
func (c *Cluster) Pause(ctx context.Context, name string) error {
	return c.setFrozen(ctx, name, true)
}

// Resume thaws a paused node.
func (c *Cluster) Resume(ctx context.Context, name string) error {
	return c.setFrozen(ctx, name, false)
}

// setFrozen pauses or thaws a node. Like Kill and Start it is idempotent:
// pausing a paused or stopped node, or thawing one that is not paused,
// does nothing, so schedules and the final heal need not track state.
func (c *Cluster) setFrozen(ctx context.Context, name string, freeze bool) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, err := c.inspect(ctx, n); err == nil && (st.Paused == freeze || !st.Running) {
		return nil
	}
	id, verb := n.ctr.GetContainerID(), "pause"
	if freeze {
		_, err = c.api.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	} else {
		verb = "resume"
		_, err = c.api.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	return nil
}

// exec runs cmd in the node's container and returns its exit code and
// combined output.
func (c *Cluster) exec(ctx context.Context, n *node, cmd ...string) (int, string, error) {
	code, r, err := n.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", n.name, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return code, "", fmt.Errorf("exec in %s: read output: %w", n.name, err)
	}
	return code, strings.TrimSpace(string(out)), nil
}
