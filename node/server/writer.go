package server

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage"
)

// diskWriter is the replica's Writer: one goroutine appends the batches
// the event loop hands it, in order, fsyncs once for all of those
// waiting (group commit) and sends the messages that waited for them,
// while the loop carries on. It reports progress
// through done, a one-slot wake-up; the loop then reads durable. It never
// waits for the loop, so a full queue (which blocks the loop in Write)
// cannot deadlock.
type diskWriter struct {
	st      *storage.Storage
	sender  replica.Sender
	queue   chan replica.Write
	done    chan struct{}
	durable atomic.Uint64
	mu      sync.Mutex
	err     error
	stopped chan struct{}
}

func newDiskWriter(st *storage.Storage, sender replica.Sender) *diskWriter {
	w := &diskWriter{st: st, sender: sender, queue: make(chan replica.Write, 4096), done: make(chan struct{}, 1),
		stopped: make(chan struct{})}
	go w.run()
	return w
}

// Write implements replica.Writer.
func (w *diskWriter) Write(b replica.Write) { w.queue <- b }

// close stops the goroutine after the queued batches and waits for it.
func (w *diskWriter) close() {
	close(w.queue)
	<-w.stopped
}

// result returns the last batch durable and the error that stopped the
// writer, if any.
func (w *diskWriter) result() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable.Load(), w.err
}

func (w *diskWriter) run() {
	defer close(w.stopped)
	var msgs []raft.Message
	for b := range w.queue {
		last, sync := b.Seq, b.Sync
		msgs = append(msgs[:0], b.Messages...)
		err := w.apply(b)
	drain:
		for err == nil {
			select {
			case b, ok := <-w.queue:
				if !ok {
					break drain
				}
				last, sync = b.Seq, sync || b.Sync
				msgs = append(msgs, b.Messages...)
				err = w.apply(b)
			default:
				break drain
			}
		}
		if err == nil && sync {
			err = w.st.Sync()
		}
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			w.wake()
			// Drain so the loop never blocks on a dead writer.
			for range w.queue {
			}
			return
		}
		w.durable.Store(last)
		// Acknowledgements leave straight from here: the loop hears of
		// the write only to let the leader count its own copy.
		if len(msgs) > 0 {
			w.sender.Send(msgs)
		}
		w.wake()
	}
}

func (w *diskWriter) apply(b replica.Write) error {
	if !b.Snapshot.IsEmpty() {
		if err := w.st.SaveSnapshot(b.Snapshot); err != nil {
			return fmt.Errorf("save snapshot %d: %w", b.Snapshot.Meta.Index, err)
		}
	}
	if err := w.st.Append(b.HardState, b.Entries); err != nil {
		return fmt.Errorf("append batch %d: %w", b.Seq, err)
	}
	return nil
}

func (w *diskWriter) wake() {
	select {
	case w.done <- struct{}{}:
	default:
	}
}
