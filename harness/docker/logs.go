package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// CopyLogs writes each node's container log, stdout and stderr
// interleaved as written, to dir/<member>.log. The engine keeps a
// container's log across restarts, so a killed and restarted node's file
// holds every incarnation. dir is created if missing.
func (c *Cluster) CopyLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("copy node logs: %w", err)
	}
	var errs []error
	for _, n := range c.nodes {
		// A slot that hosted several members has a log for each, named
		// by member ID (n3.log, n3b.log, ...).
		for _, r := range append(slices.Clone(n.retired), retired{member: n.memberID(), id: n.ctr.GetContainerID()}) {
			if err := c.copyLog(ctx, r.id, filepath.Join(dir, r.member+".log")); err != nil {
				errs = append(errs, fmt.Errorf("copy the log of %s: %w", r.member, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) copyLog(ctx context.Context, id, path string) error {
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// No TTY: the stream is multiplexed; both streams go to the one file.
	_, err = stdcopy.StdCopy(f, f, rc)
	return errors.Join(err, f.Close())
}

// containerOutput returns the end of a container's log, for error
// messages.
func (c *Cluster) containerOutput(ctx context.Context, id string) string {
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 1<<16)); err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return strings.TrimSpace(buf.String())
}
