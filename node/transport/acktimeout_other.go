//go:build !linux

package transport

import (
	"net"
	"time"
)

// setAckTimeout is Linux-only (TCP_USER_TIMEOUT); elsewhere a stalled
// connection is found only by the write deadline and TCP keep-alive.
func setAckTimeout(net.Conn, time.Duration) error { return nil }
