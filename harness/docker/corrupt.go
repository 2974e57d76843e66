package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/moby/moby/client"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/storage"
)

var _ nemesis.DiskFaults = (*Cluster)(nil)

// Corrupt damages the log of a stopped raftnode node, through the engine's
// copy API (which reaches a stopped container's volume):
//
//   - torn-tail cuts the newest segment in the middle of its last record,
//     as a crash in the middle of a write does. raftnode must cut the torn
//     record off and start.
//   - flip-byte flips a byte in the middle of a record that is not the
//     last of the log (its CRC no longer matches, and valid records
//     follow). raftnode must refuse to start, naming the file and offset.
//
// With Config.LazyFS the damage is done to the durable bytes (the
// backing directory), which is what a restart sees.
func (c *Cluster) Corrupt(ctx context.Context, name, kind string) (nemesis.Corruption, error) {
	n, err := c.node(name)
	if err != nil {
		return nemesis.Corruption{}, fmt.Errorf("corrupt: %w", err)
	}
	if c.cfg.Target.Name != "raftnode" {
		return nemesis.Corruption{}, fmt.Errorf("corrupt: the %s target cannot take fault corrupt: only raftnode's log format is known", c.cfg.Target.Name)
	}
	if !slices.Contains(nemesis.Corruptions, kind) {
		return nemesis.Corruption{}, fmt.Errorf("corrupt: unknown kind %q; known: %v", kind, nemesis.Corruptions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.inspect(ctx, n)
	if err != nil {
		return nemesis.Corruption{}, err
	}
	if st.Running {
		return nemesis.Corruption{}, fmt.Errorf("corrupt %s: the node is running; kill it first", name)
	}
	walDir := path.Join(c.diskDir(), "wal")
	segs, err := c.readSegments(ctx, n, walDir)
	if err != nil {
		return nemesis.Corruption{}, fmt.Errorf("corrupt %s: %w", name, err)
	}
	var cor nemesis.Corruption
	var file string
	var data []byte
	switch kind {
	case nemesis.TornTail:
		file, data, cor, err = tearTail(segs)
	case nemesis.FlipByte:
		file, data, cor, err = flipByte(segs)
	}
	if err != nil {
		return nemesis.Corruption{}, fmt.Errorf("corrupt %s: %w", name, err)
	}
	// The path as the node sees it (on lazyfs, the mount's).
	cor.Kind, cor.File = kind, path.Join(c.cfg.Target.DataDir, "wal", file)
	if err := c.writeFile(ctx, n, walDir, file, data); err != nil {
		return nemesis.Corruption{}, fmt.Errorf("corrupt %s: %w", name, err)
	}
	c.corrupted[name] = cor
	c.log.Info("corrupted", "node", name, "kind", kind, "file", cor.File, "offset", cor.Offset, "detail", cor.Detail)
	return cor, nil
}

// segment is one log segment file as read from a node.
type segment struct {
	name string
	data []byte
}

// readSegments copies the node's log segments out, sorted by name (which
// is their sequence order).
func (c *Cluster) readSegments(ctx context.Context, n *node, dir string) ([]segment, error) {
	res, err := c.api.CopyFromContainer(ctx, n.ctr.GetContainerID(), client.CopyFromContainerOptions{SourcePath: dir})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	defer res.Content.Close()
	var segs []segment
	tr := tar.NewReader(res.Content)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".log") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		segs = append(segs, segment{name: path.Base(h.Name), data: data})
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("no log segments in %s", dir)
	}
	slices.SortFunc(segs, func(a, b segment) int { return strings.Compare(a.name, b.name) })
	return segs, nil
}

// tearTail cuts the newest segment in the middle of its last record.
func tearTail(segs []segment) (string, []byte, nemesis.Corruption, error) {
	s := segs[len(segs)-1]
	offs, end := storage.RecordOffsets(s.data)
	if len(offs) < 2 {
		return "", nil, nemesis.Corruption{}, fmt.Errorf("nothing to tear: %s holds no record after its header", s.name)
	}
	last := offs[len(offs)-1]
	cut := last + max(1, (end-last)/2)
	return s.name, s.data[:cut], nemesis.Corruption{Offset: last,
		Detail: fmt.Sprintf("%s cut from %d to %d bytes, in the record at %d..%d", s.name, len(s.data), cut, last, end)}, nil
}

// flipByte flips a byte in the middle of a record that is neither a
// segment's header nor the last record of the log: the middle one of
// those, so it is neither the oldest nor the newest.
func flipByte(segs []segment) (string, []byte, nemesis.Corruption, error) {
	type rec struct {
		seg        int
		start, end int64
	}
	var recs []rec
	for i, s := range segs {
		offs, end := storage.RecordOffsets(s.data)
		for j := 1; j < len(offs); j++ { // record 0 is the header
			e := end
			if j+1 < len(offs) {
				e = offs[j+1]
			}
			recs = append(recs, rec{seg: i, start: offs[j], end: e})
		}
	}
	if len(recs) < 2 {
		return "", nil, nemesis.Corruption{}, fmt.Errorf("the log holds %d records: too few to damage one that is not the last", len(recs))
	}
	r := recs[(len(recs)-1)/2]
	s := segs[r.seg]
	// Past the 8-byte length and CRC: inside what the CRC covers.
	at := r.start + 8 + (r.end-r.start-8)/2
	data := slices.Clone(s.data)
	data[at] ^= 0xff
	return s.name, data, nemesis.Corruption{Offset: r.start,
		Detail: fmt.Sprintf("%s: byte %d, in the record at %d..%d, flipped from %#02x to %#02x", s.name, at, r.start, r.end, s.data[at], data[at])}, nil
}

// writeFile replaces dir/name in the node's container with data.
func (c *Cluster) writeFile(ctx context.Context, n *node, dir, name string, data []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o640, Size: int64(len(data))}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := c.api.CopyToContainer(ctx, n.ctr.GetContainerID(), client.CopyToContainerOptions{
		DestinationPath: dir, Content: &buf}); err != nil {
		return fmt.Errorf("write %s/%s: %w", dir, name, err)
	}
	return nil
}
