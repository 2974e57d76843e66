package netdelay

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestDelayFile(t *testing.T) {
	d, err := ParseDelays([]byte("# delays\n172.28.3.12 100ms\n\n172.28.3.11 1.5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(FormatDelays(d)); got != "172.28.3.11 1.5s\n172.28.3.12 100ms\n" {
		t.Errorf("round trip: %q", got)
	}
	for _, bad := range []string{"172.28.3.11", "nonsense 1s", "172.28.3.11 -1s", "172.28.3.11 soon"} {
		if _, err := ParseDelays([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Data from a delayed source arrives no sooner than its delay, in order;
// from another source, undelayed (no lower bound to check), and the
// statistics say what was held.
func TestPipeHoldsData(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.1")
	p := New(nil)
	p.SetDelays(map[netip.Addr]time.Duration{src: 150 * time.Millisecond})
	inW, inR := net.Pipe()
	outR, outW := net.Pipe()
	go p.pipe(outW, inR, src)
	began := time.Now()
	go func() {
		inW.Write([]byte("one,"))
		inW.Write([]byte("two"))
		inW.Close()
	}()
	got, err := io.ReadAll(outR)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "one,two" {
		t.Errorf("read %q", got)
	}
	if took := time.Since(began); took < 150*time.Millisecond {
		t.Errorf("data arrived after %v, before the 150ms delay", took)
	}
	st := p.Stats()
	if len(st) != 1 || st[0].Source != "10.0.0.1" || st[0].Bytes != 7 || st[0].MaxHeld < 150*time.Millisecond {
		t.Errorf("stats %+v", st)
	}
}
