package transport

import (
	"fmt"
	"golang.org/x/sys/unix"
	"net"
	"time"
)

// setAckTimeout sets TCP_USER_TIMEOUT on conn: the kernel aborts the
// connection once written data stays unacknowledged for d, so the writer
// redials instead of waiting out TCP's retransmission backoff.
func setAckTimeout(conn net.Conn, d time.Duration) error {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return fmt.Errorf("ack timeout: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	}); err != nil {
		return fmt.Errorf("ack timeout: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("ack timeout: setsockopt TCP_USER_TIMEOUT: %w", serr)
	}
	return nil
}
