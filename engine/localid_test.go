package engine

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// stepClock returns the times in order, repeating the last one.
func stepClock(times ...time.Time) func() time.Time {
	var mu sync.Mutex
	i := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := times[min(i, len(times)-1)]
		i++
		return t
	}
}

func TestLocalIDs(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name  string
		floor int64
		times []time.Time
		want  []int64
	}{
		{
			name:  "timestamp times 10000",
			times: []time.Time{base, base.Add(time.Millisecond)},
			want:  []int64{17_000_000_000_000_000, 17_000_000_000_010_000},
		},
		{
			name:  "same millisecond counts up",
			times: []time.Time{base, base, base},
			want:  []int64{17_000_000_000_000_000, 17_000_000_000_000_001, 17_000_000_000_000_002},
		},
		{
			name:  "clock steps back: still increasing",
			times: []time.Time{base, base.Add(-time.Hour), base.Add(-time.Hour)},
			want:  []int64{17_000_000_000_000_000, 17_000_000_000_000_001, 17_000_000_000_000_002},
		},
		{
			name:  "floor above the clock (restart after a step back)",
			floor: 17_000_000_000_500_000,
			times: []time.Time{base},
			want:  []int64{17_000_000_000_500_001},
		},
		{
			name:  "clock catches up with the floor",
			floor: 17_000_000_000_000_005,
			times: []time.Time{base.Add(time.Millisecond)},
			want:  []int64{17_000_000_000_010_000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := NewLocalIDs(tt.floor, stepClock(tt.times...))
			for i, w := range tt.want {
				got := ids.Next()
				if got != strconv.FormatInt(w, 10) {
					t.Fatalf("id %d = %s, want %d", i, got, w)
				}
				if ids.Last() != w {
					t.Fatalf("Last() = %d after %s", ids.Last(), got)
				}
			}
		})
	}
}

// A burst of more than 10000 IDs in one millisecond runs ahead of the clock without ever
// colliding with what the next millisecond would start at.
func TestLocalIDsBurst(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000)
	now := base
	ids := NewLocalIDs(0, func() time.Time { return now })
	prev := int64(0)
	for i := range 25_000 {
		n, _ := strconv.ParseInt(ids.Next(), 10, 64)
		if n <= prev {
			t.Fatalf("id %d: %d not above %d", i, n, prev)
		}
		prev = n
	}
	if want := base.UnixMilli()*idsPerMilli + 24_999; prev != want {
		t.Fatalf("last of burst %d, want %d", prev, want)
	}
	now = base.Add(time.Millisecond) // the clock is behind the burst: keep counting
	if got, _ := strconv.ParseInt(ids.Next(), 10, 64); got != prev+1 {
		t.Fatalf("after burst %d, want %d", got, prev+1)
	}
	now = base.Add(time.Second)
	if got := ids.Next(); got != strconv.FormatInt(now.UnixMilli()*idsPerMilli, 10) || len(got) > 20 {
		t.Fatalf("after catching up %s", got)
	}
}

func TestLocalIDsConcurrent(t *testing.T) {
	ids := NewLocalIDs(0, time.Now)
	const workers, each = 8, 5000
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				out[w] = append(out[w], ids.Next())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, ws := range out {
		for _, id := range ws {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			if len(id) > 20 {
				t.Fatalf("id %s longer than 20", id)
			}
			seen[id] = true
		}
	}
}

func BenchmarkLocalIDs(b *testing.B) {
	ids := NewLocalIDs(0, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		_ = ids.Next()
	}
}
