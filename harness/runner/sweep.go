package runner

import (
	"context"
	"sync"
)

// SeedResult is one seed's outcome in a sweep.
type SeedResult[T any] struct {
	Seed  uint64
	Value T
	Err   error
}

// Sweep runs fn for seeds first, first+1, ... first+n-1 on workers
// goroutines and hands each result to visit, in completion order, on the
// calling goroutine. visit returns false to stop handing out new seeds
// (the seeds already running still finish and are visited, so a lower
// failing seed is not missed). Sweep returns only once every worker has
// returned: nothing is left blocked behind it, whatever visit does.
func Sweep[T any](ctx context.Context, first uint64, n, workers int, fn func(seed uint64) (T, error), visit func(SeedResult[T]) bool) {
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	jobs := make(chan uint64)
	results := make(chan SeedResult[T])
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for seed := range jobs {
				v, err := fn(seed)
				results <- SeedResult[T]{Seed: seed, Value: v, Err: err}
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range uint64(n) {
			select {
			case jobs <- first + i:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results { // drain to the end: workers never block
		if !visit(r) {
			halt()
		}
	}
	halt()
}
