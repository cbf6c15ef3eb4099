package hashkey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// clockSamples is how many /info/time round trips one sync takes; the one with the
// smallest round trip wins, since its midpoint is the tightest bound on the server's time.
const clockSamples = 5

// clockOffset is the client's estimate of server time − local time. The exchange refuses a
// request whose timestamp is more than 30 s from its clock (1001), and the risk gate stops
// quoting when the offset is unknown or large (fail closed), so both read it from here.
type clockOffset struct {
	mu         sync.Mutex
	offset     time.Duration
	rtt        time.Duration
	known      bool
	at         time.Time     // local time of the sync that produced offset
	staleAfter time.Duration // 0: never stale; set by RunClockSync

	// syncSem holds one token: one sync at a time, concurrent 1001s share one. A channel,
	// not a Mutex, so that a caller waiting for another's sync still honours its context.
	syncSem chan struct{}
}

// get returns the offset and whether it is known and fresh at now.
func (c *clockOffset) get(now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return 0, false
	}
	if c.staleAfter > 0 && now.Sub(c.at) > c.staleAfter {
		return c.offset, false
	}
	return c.offset, true
}

func (c *clockOffset) set(offset, rtt time.Duration, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.rtt, c.known, c.at = offset, rtt, true, at
}

func (c *clockOffset) syncedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return time.Time{}
	}
	return c.at
}

func (c *clockOffset) setStaleAfter(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.staleAfter = d
}

// ClockOffset returns server time − local time from the best sample of the last sync.
// known is false before the first successful sync, and once the last sync is older than
// three RunClockSync periods (the offset can no longer be trusted: fail closed).
func (c *Client) ClockOffset() (offset time.Duration, known bool) {
	return c.offset.get(c.clock())
}

// Now is the local clock corrected by the offset: the exchange's time as best we know it.
// It stamps API-TIMESTAMP. Before the first sync it is the local clock.
func (c *Client) Now() time.Time {
	now := c.clock()
	off, _ := c.offset.get(now)
	return now.Add(off)
}

// SyncClock takes several /info/time samples and keeps the one with the smallest round
// trip: offset = server − (send + receive)/2.
func (c *Client) SyncClock(ctx context.Context) error {
	if err := c.offset.lockSync(ctx); err != nil {
		return fmt.Errorf("sync clock: %w", err)
	}
	defer c.offset.unlockSync()
	return c.syncClockLocked(ctx)
}

// lockSync waits for the sync token until ctx ends.
func (c *clockOffset) lockSync(ctx context.Context) error {
	select {
	case c.syncSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *clockOffset) unlockSync() { <-c.syncSem }

// resync syncs the clock after a 1001, unless another sync finished after the refused
// request was stamped (several calls refused at once share one sync).
func (c *Client) resync(ctx context.Context, stamped time.Time) error {
	if err := c.offset.lockSync(ctx); err != nil {
		return err
	}
	defer c.offset.unlockSync()
	if at := c.offset.syncedAt(); !at.IsZero() && at.After(stamped) {
		return nil
	}
	return c.syncClockLocked(ctx)
}

func (c *Client) syncClockLocked(ctx context.Context) error {
	var (
		best    time.Duration
		bestRTT time.Duration = -1
		lastErr error
	)
	signed := c.signer != nil
	for range clockSamples {
		off, rtt, err := c.clockSample(ctx, &signed)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("sync clock: %w", err)
			}
			lastErr = err
			continue
		}
		if bestRTT < 0 || rtt < bestRTT {
			best, bestRTT = off, rtt
		}
	}
	if bestRTT < 0 {
		return fmt.Errorf("sync clock: no sample of %d succeeded: %w", clockSamples, lastErr)
	}
	c.offset.set(best, bestRTT, c.clock())
	c.log.Info("clock_synced", zap.Duration("offset", best), zap.Duration("rtt", bestRTT))
	return nil
}

// clockSample takes one sample; the rate-limit wait comes before the round trip is timed.
// If a signed request is refused as expired (our clock is so far off that even the time
// call fails) it asks again unsigned, and so do the sync's later samples (*signed turns
// false): /info/time is public market data.
func (c *Client) clockSample(ctx context.Context, signed *bool) (offset, rtt time.Duration, err error) {
	for {
		if err := c.limiter.Wait(ctx, QueryBucket, 1); err != nil {
			return 0, 0, err
		}
		r := request{op: "time", method: "GET", path: "/v1/info/time", public: true, unsigned: !*signed}
		send := c.clock()
		body, err := c.once(ctx, r)
		recv := c.clock()
		var apiErr *APIError
		if *signed && errors.As(err, &apiErr) && apiErr.Code == 1001 {
			*signed = false
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		server, err := DecodeServerTime(body)
		if err != nil {
			return 0, 0, fmt.Errorf("time: %w", err)
		}
		rtt = recv.Sub(send)
		return server.Sub(send.Add(rtt / 2)), rtt, nil
	}
}

// RunClockSync resyncs the clock every period until ctx is done, starting at once. A
// failed sync is logged; the old offset stays in use until it is three periods old, after
// which ClockOffset reports it unknown.
func (c *Client) RunClockSync(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	c.offset.setStaleAfter(3 * every)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.SyncClock(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("clock_sync_failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
