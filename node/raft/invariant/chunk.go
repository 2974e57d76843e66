package invariant

// chunkSize entries per chunk: growing never copies more than one chunk,
// and chunks of pointer-free elements cost the garbage collector nothing
// to scan.
const chunkSize = 4096

// chunked is an append-only list stored in fixed-size chunks. The checker
// keeps a few words per log index for the whole run; a single slice would
// copy all of it each time it grew.
type chunked[T any] struct {
	chunks [][]T
	n      uint64
}

func (c *chunked[T]) len() uint64 { return c.n }

// at returns the element at position i (0-based), which must exist.
func (c *chunked[T]) at(i uint64) *T { return &c.chunks[i/chunkSize][i%chunkSize] }

func (c *chunked[T]) push(v T) {
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, make([]T, 0, chunkSize))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
}
