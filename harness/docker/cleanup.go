package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Cleanup removes every container, network and volume carrying
// LabelManaged: the leftovers of interrupted runs, of any run ID. It
// returns how many it removed. `raftcheck cleanup` calls it. It removes
// live runs too; CleanupOrphans spares them.
func Cleanup(ctx context.Context) (int, error) {
	p, err := newProvider(slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if err := ping(ctx, p.Client()); err != nil {
		return 0, err
	}
	return removeLabelled(ctx, p.Client(), LabelManaged+"=true")
}

// CleanupOrphans removes the resources of runs whose owning process is
// gone (interrupted by a crash or kill -9), leaving live runs alone: what
// `raftcheck test` calls before it starts. It returns how many it removed.
func CleanupOrphans(ctx context.Context) (int, error) {
	p, err := newProvider(slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	api := p.Client()
	if err := ping(ctx, api); err != nil {
		return 0, err
	}
	filters := client.Filters{}.Add("label", LabelManaged+"=true")
	owners := map[string]string{} // run ID -> owner
	ctrs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return 0, fmt.Errorf("list raftcheck containers: %w", err)
	}
	for _, c := range ctrs.Items {
		owners[c.Labels[LabelRun]] = c.Labels[LabelOwner]
	}
	nets, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return 0, fmt.Errorf("list raftcheck networks: %w", err)
	}
	for _, n := range nets.Items {
		owners[n.Labels[LabelRun]] = n.Labels[LabelOwner]
	}
	removed := 0
	var errs []error
	for run, own := range owners {
		if ownerAlive(own) {
			continue
		}
		n, err := removeLabelled(ctx, api, LabelRun+"="+run)
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// owner identifies this process for LabelOwner.
func owner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// ownerAlive reports whether the process named by a LabelOwner value
// still runs. A run on another host, or without an owner, counts as alive
// only in the first case: we cannot see that host's processes.
func ownerAlive(own string) bool {
	host, pidText, ok := strings.Cut(own, ":")
	if !ok {
		return false
	}
	if me, _ := os.Hostname(); host != me {
		return true
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}

// removeLabelled removes the containers (with their anonymous volumes),
// then the networks, then any volumes left, that carry label (k=v).
func removeLabelled(ctx context.Context, api client.APIClient, label string) (int, error) {
	filters := client.Filters{}.Add("label", label)
	removed := 0
	var errs []error

	ctrs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return 0, fmt.Errorf("list containers labelled %s: %w", label, err)
	}
	for _, ctr := range ctrs.Items {
		if ctr.State == container.StatePaused {
			// A frozen process cannot die; thaw it so the forced remove's
			// SIGKILL lands at once.
			if _, err := api.ContainerUnpause(ctx, ctr.ID, client.ContainerUnpauseOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("unpause container %.12s: %w", ctr.ID, err))
			}
		}
		_, err := api.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil:
			removed++
		case cerrdefs.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", ctr.ID, err))
		}
	}

	nets, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("list networks labelled %s: %w", label, err))...)
	}
	for _, nw := range nets.Items {
		if err := removeNetwork(ctx, api, nw.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
			continue
		}
		removed++
	}

	vols, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: filters})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("list volumes labelled %s: %w", label, err))...)
	}
	for _, v := range vols.Items {
		_, err := api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
		switch {
		case err == nil:
			removed++
		case cerrdefs.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("remove volume %.12s: %w", v.Name, err))
		}
	}
	return removed, errors.Join(errs...)
}

// removeNetwork retries briefly: the engine may still be detaching the
// endpoints of containers removed a moment ago.
func removeNetwork(ctx context.Context, api client.APIClient, id string) error {
	for attempt := 0; ; attempt++ {
		_, err := api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if attempt == 10 {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
