package inflight

import (
	"errors"
	"io"
	"sync/atomic"
)

// Budget bounds the bytes of every buffered request and response body
// together (GATEWAY_MAX_BUFFERED_BYTES). Buffers reserve their capacity
// before they allocate it, so the bytes the gateway holds for bodies never
// exceed the budget, whatever clients claim in Content-Length or regions
// send. It is safe for concurrent use; a nil *Budget has no bound.
type Budget struct {
	max  int64
	used atomic.Int64
}

// ErrOverBudget is a buffer's growth refused because the budget is spent.
var ErrOverBudget = errors.New("byte budget spent")

// ErrTooLarge is a body over the buffer's own limit.
var ErrTooLarge = errors.New("body over its size limit")

// NewBudget bounds buffered bytes at max; max <= 0 means no bound (nil).
func NewBudget(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: max}
}

// Max is the bound (0 for none).
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}

// Used is how many bytes are reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Reserve takes n bytes if they fit, and reports whether they did.
func (b *Budget) Reserve(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Free returns n reserved bytes.
func (b *Budget) Free(n int64) {
	if b != nil && n > 0 {
		b.used.Add(-n)
	}
}

// firstChunk is a buffer's first capacity: small, so a thousand requests
// that announce megabytes and send nothing cost a thousand small buffers.
const firstChunk = 4 << 10

// Buffer is a byte buffer whose capacity is reserved from a Budget. It
// grows with the bytes that actually arrive (never from what a header
// announces), doubling up to its limit and never past it. Call Free when
// done with the bytes.
type Buffer struct {
	budget   *Budget
	limit    int64
	expect   int64 // the announced size, or -1
	buf      []byte
	reserved int64
	// peek takes the small read before a growth; a field, not a local,
	// because a local passed to an io.Reader escapes: one allocation per
	// body otherwise. Small, because every buffer carries it.
	peek [64]byte
}

// NewBuffer is an empty buffer for at most limit bytes. expect is the size
// the body announced (its Content-Length), or -1 when it announced none:
// growth stops there, so a body that arrives as announced is held in one
// array of its own size instead of a 4 KiB first chunk. It is only a hint,
// and it allocates nothing by itself: the buffer still grows with the
// bytes that arrive, and past expect when more arrive.
func (b *Budget) NewBuffer(limit, expect int64) *Buffer {
	return &Buffer{budget: b, limit: limit, expect: expect}
}

// Bytes is the content read so far; valid until Free.
func (x *Buffer) Bytes() []byte { return x.buf }

// Len is the number of bytes read so far.
func (x *Buffer) Len() int { return len(x.buf) }

// Free returns the buffer's reservation and drops its memory.
func (x *Buffer) Free() {
	x.budget.Free(x.reserved)
	x.reserved, x.buf = 0, nil
}

// ReadFrom reads r to EOF. It returns ErrTooLarge once more than the
// limit arrived (or a growth could not fit even into an empty budget), and
// ErrOverBudget when the budget cannot cover the next growth now; either
// way the bytes read so far stay reserved until Free.
func (x *Buffer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if len(x.buf) == cap(x.buf) {
			// Full: peek one small read before growing, so a body that
			// fills its buffer exactly never doubles for its EOF.
			n, err := r.Read(x.peek[:])
			if n > 0 {
				if err := x.grow(n); err != nil {
					return total, err
				}
				x.buf = append(x.buf, x.peek[:n]...)
				total += int64(n)
			}
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			continue
		}
		n, err := r.Read(x.buf[len(x.buf):cap(x.buf)])
		x.buf = x.buf[:len(x.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// grow makes room for n more bytes: twice the capacity (at least
// firstChunk), no more than the announced size when the bytes fit in it,
// never past the limit, reserved before it is allocated. The
// old array stays reserved until it is copied, so the reservation covers
// the moment both exist.
func (x *Buffer) grow(n int) error {
	need := int64(len(x.buf) + n)
	if need > x.limit {
		return ErrTooLarge
	}
	newCap := max(int64(cap(x.buf))*2, firstChunk, need)
	if x.expect >= need {
		newCap = min(newCap, x.expect)
	}
	newCap = min(newCap, x.limit)
	if m := x.budget.Max(); m > 0 && x.reserved+newCap > m {
		return ErrTooLarge // would not fit even into an empty budget
	}
	if !x.budget.Reserve(newCap) {
		return ErrOverBudget
	}
	nb := make([]byte, len(x.buf), newCap)
	copy(nb, x.buf)
	x.budget.Free(x.reserved)
	x.buf, x.reserved = nb, newCap
	return nil
}
