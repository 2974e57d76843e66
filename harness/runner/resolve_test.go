package runner

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/harness/store"
)

// flip-byte is refused up front where it cannot run: by the simulator
// (no disk to damage), and for etcd (another log format), each with a
// message saying why, before any container starts.
func TestResolveRefusesFlipByte(t *testing.T) {
	for _, tc := range []struct {
		backend, target, want string
	}{
		{"sim", "raftnode", "--nemesis flip-byte: the simulator cannot take this fault yet"},
		{"docker", "etcd", "--nemesis flip-byte damages raftnode's log records"},
	} {
		cfg := store.TestConfig{Backend: tc.backend, Target: tc.target, Nodes: 3, Nemesis: []string{"kill", "flip-byte"}}
		_, err := Resolve(context.Background(), Request{Config: cfg}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s/%s: %v; want %q", tc.backend, tc.target, err, tc.want)
		}
	}
}
