package netdelay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// ParseDelays reads a delay file: one "IP DURATION" per line (e.g.
// "172.28.3.11 100ms"); blank lines and lines starting with # are
// ignored.
func ParseDelays(data []byte) (map[netip.Addr]time.Duration, error) {
	out := map[netip.Addr]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("netdelay: line %d: %q: want IP DURATION", n, line)
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			return nil, fmt.Errorf("netdelay: line %d: %w", n, err)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil || d < 0 {
			return nil, fmt.Errorf("netdelay: line %d: duration %q: want a non-negative Go duration", n, f[1])
		}
		out[ip.Unmap()] = d
	}
	return out, sc.Err()
}

// FormatDelays writes a delay file, sorted by IP.
func FormatDelays(d map[netip.Addr]time.Duration) []byte {
	ips := make([]netip.Addr, 0, len(d))
	for ip := range d {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	var b bytes.Buffer
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s %s\n", ip, d[ip])
	}
	return b.Bytes()
}

// Watch applies the delay file at path now and whenever its contents
// change (checked every interval), until ctx is done. A missing file is
// no delays; a file that does not parse is logged and ignored.
func (p *Proxy) Watch(ctx context.Context, path string, interval time.Duration) {
	var last []byte
	first := true
	for {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			data, err = nil, nil
		}
		switch {
		case err != nil:
			p.log.Warn("netdelay: read delays", "file", path, "err", err)
		case first || !bytes.Equal(data, last):
			if d, err := ParseDelays(data); err != nil {
				p.log.Warn("netdelay: bad delay file", "file", path, "err", err)
			} else {
				p.SetDelays(d)
				p.log.Info("netdelay: delays set", "delays", strings.TrimSpace(string(FormatDelays(d))))
			}
			last, first = data, false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
