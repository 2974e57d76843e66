package transport

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The option reaches the socket: the kernel reports the timeout back.
// (That it unsticks a partitioned connection is shown in containers, by
// the fault campaigns' liveness probe after heals.)
func TestAckTimeoutIsSet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer conn.Close()
	must(t, setAckTimeout(conn, 1500*time.Millisecond))
	raw, err := conn.(*net.TCPConn).SyscallConn()
	must(t, err)
	var got int
	var gerr error
	must(t, raw.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}))
	must(t, gerr)
	if got != 1500 {
		t.Fatalf("TCP_USER_TIMEOUT = %d ms, want 1500", got)
	}
}
