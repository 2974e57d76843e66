package sim

import (
	"fmt"
	"time"
)

// DefaultStallAfter is how long a simulation may go without its virtual
// clock moving before Run gives up on it. A healthy run simulates
// hundreds of seconds per wall second, and tens on a machine loaded ten
// times over; ten seconds without one virtual nanosecond passing is a
// livelock: a node's loop that never returns (one event that never
// ends), or messages that bounce without delay. Short, because such a
// loop often allocates as it spins: a node that grew its log without end
// took all of a 24 GiB machine's memory in about a minute.
const DefaultStallAfter = 10 * time.Second

// StalledError is a simulation whose virtual time stopped. It is a
// verdict on the system (it is not live), not a harness failure, and
// Run returns it without waiting for the stuck goroutine, which stays
// stuck until the process exits.
type StalledError struct {
	Seed uint64
	// At is the virtual time it stopped at; For the wall time waited.
	At, For time.Duration
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("sim seed %d stalled at %v of virtual time: no simulated time passed for %v of wall time (a livelock: a node's loop that never ends, or messages that bounce without delay)",
		e.Seed, e.At, e.For)
}

// watch waits for the run to end (done), and returns a StalledError if
// the clock does not move for stallAfter meanwhile.
func (s *Simulator) watch(done <-chan error, stallAfter time.Duration) error {
	poll := max(stallAfter/10, time.Millisecond)
	t := time.NewTicker(poll)
	defer t.Stop()
	last, since := s.clock.shown.Load(), time.Now()
	for {
		select {
		case err := <-done:
			return err
		case now := <-t.C:
			if at := s.clock.shown.Load(); at != last {
				last, since = at, now
			} else if now.Sub(since) >= stallAfter {
				return &StalledError{Seed: s.tc.Seed, At: time.Duration(at), For: now.Sub(since).Round(time.Millisecond)}
			}
		}
	}
}
