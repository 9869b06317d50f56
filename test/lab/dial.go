package lab

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// DialFrom opens a TCP connection from the client namespace with a fixed
// source port, so tests can send several connections with the same
// 5-tuple. For the next one to get the same port at once, close each with
// SetLinger(0): the reset that sends leaves no TIME_WAIT socket holding
// the port.
func (l *Lab) DialFrom(ctx context.Context, localPort uint16, addr netip.AddrPort) (*net.TCPConn, error) {
	var c net.Conn
	err := inNetns(l.ClientNS, func() error {
		var err error
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{Port: int(localPort)}}
		c, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
