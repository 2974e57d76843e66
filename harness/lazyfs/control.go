package lazyfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// The control protocol, on a unix socket: the client sends one command
// line, "stats" or "lose", and reads one line back, the Stats as JSON
// (or {"error": "..."}), then the server closes the connection.

// ServeControl answers control commands on a unix socket at path until
// ctx is done. It removes a stale socket file first.
func (f *FS) ServeControl(ctx context.Context, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lazyfs: control socket: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("lazyfs: control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("lazyfs: control socket: %w", err)
		}
		go f.answer(conn)
	}
}

type reply struct {
	Stats
	Error string `json:"error,omitempty"`
}

func (f *FS) answer(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	var r reply
	switch cmd := strings.TrimSpace(line); cmd {
	case "stats":
		r.Stats = f.Stats()
	case "lose":
		r.Stats = f.Lose()
	default:
		r.Error = fmt.Sprintf("unknown command %q; known: stats, lose", cmd)
	}
	b, _ := json.Marshal(r)
	conn.Write(append(b, '\n'))
}

// Control sends one command ("stats" or "lose") to the lazyfs whose
// control socket is at path.
func Control(ctx context.Context, path, cmd string) (Stats, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Stats{}, fmt.Errorf("lazyfs: %s: %w", cmd, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(conn, cmd); err != nil {
		return Stats{}, fmt.Errorf("lazyfs: %s: %w", cmd, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return Stats{}, fmt.Errorf("lazyfs: %s: read the answer: %w", cmd, err)
	}
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		return Stats{}, fmt.Errorf("lazyfs: %s: bad answer %q: %w", cmd, line, err)
	}
	if r.Error != "" {
		return Stats{}, fmt.Errorf("lazyfs: %s: %s", cmd, r.Error)
	}
	return r.Stats, nil
}
