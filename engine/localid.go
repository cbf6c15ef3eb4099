package engine

import (
	"strconv"
	"sync/atomic"
	"time"
)

// idsPerMilli is the exchange's recommended spacing: local ID = timestamp_ms × 10000 + a
// sequence, which fits in 17 digits for centuries and so within the 20-character limit.
const idsPerMilli = 10_000

// LocalIDs hands out orderLocalIDs that never repeat: each is max(now_ms × 10000, last + 1),
// so they stay strictly increasing when the wall clock steps back and when more than 10000
// are taken within one millisecond (they then run ahead of the clock and the clock catches
// up). The starting floor comes from outside (a durable high-water mark kept across
// restarts); Last is what to persist. Safe for concurrent use.
type LocalIDs struct {
	last  atomic.Int64
	clock func() time.Time
}

// NewLocalIDs starts above floor (every ID is > floor). A negative floor counts as 0.
func NewLocalIDs(floor int64, clock func() time.Time) *LocalIDs {
	ids := &LocalIDs{clock: clock}
	ids.last.Store(max(floor, 0))
	return ids
}

// Next returns a new local ID: decimal digits, at most 19 characters (an int64).
func (l *LocalIDs) Next() string {
	return strconv.FormatInt(l.next(), 10)
}

func (l *LocalIDs) next() int64 {
	for {
		last := l.last.Load()
		n := l.clock().UnixMilli() * idsPerMilli
		if n <= last {
			n = last + 1
		}
		if l.last.CompareAndSwap(last, n) {
			return n
		}
	}
}

// Last returns the highest ID handed out (or the floor, before the first).
func (l *LocalIDs) Last() int64 { return l.last.Load() }
