//go:build unix

package main

import (
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackDelivery measures the least any tick-to-order path pays before its own
// work starts: one book-update-sized frame written to a loopback TCP socket until the
// goroutine reading the other end has it, with nothing else to do. "blocking" is a reader
// parked in the runtime's network poller, as every Go network reader (ours included) is;
// "busypoll" is a reader that never parks and spins on a non-blocking read, holding a core.
// Between frames both sides idle for a millisecond, as they do between market moves.
//
//	go test -run '^$' -bench 'TickToOrder|LoopbackDelivery' -benchtime 400x -count 6 ./cmd/mmd
func BenchmarkLoopbackDelivery(b *testing.B) {
	b.Run("blocking", func(b *testing.B) { benchDelivery(b, false) })
	b.Run("busypoll", func(b *testing.B) { benchDelivery(b, true) })
}

func benchDelivery(b *testing.B, busyPoll bool) {
	frame := []byte(`{"type":"level2@50_update","instrumentID":"BTC-USDT","buy":[["64999.00","0.7"],["64998.01","0"]],"sell":[["65001.00","0.3"]],"pubTimestamp":"1542104001556"}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	read := r.Read
	if busyPoll {
		raw, err := r.(*net.TCPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		read = newSpinReader(raw).Read
	}

	// The reader stamps each whole frame and hands the stamps over at the end, so that nothing
	// but the frame's delivery wakes it.
	got := make(chan []time.Time, 1)
	go func() {
		stamps := make([]time.Time, 0, b.N)
		buf := make([]byte, len(frame))
		for len(stamps) < b.N {
			if _, err := io.ReadFull(readerFunc(read), buf); err != nil {
				break
			}
			stamps = append(stamps, time.Now())
		}
		got <- stamps
	}()
	defer r.Close() // ends a reader still waiting after a failure

	sent := make([]time.Time, 0, b.N)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	b.ResetTimer()
	for range b.N {
		sent = append(sent, time.Now())
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		// Both sides go idle between frames, as between market moves: the pause is the
		// condition measured, not a wait for an event.
		idle.Reset(time.Millisecond)
		<-idle.C
	}
	var recv []time.Time
	select {
	case recv = <-got:
	case <-time.After(10 * time.Second):
		b.Fatal("frames not delivered within 10s")
	}
	b.StopTimer()
	if len(recv) != len(sent) {
		b.Fatalf("%d of %d frames delivered", len(recv), len(sent))
	}
	lat := make([]time.Duration, len(sent))
	for i := range sent {
		lat[i] = recv[i].Sub(sent[i])
	}
	reportLatency(b, lat)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// spinReader reads without ever parking in the network poller: it retries a non-blocking
// read, yielding the processor between tries so that other goroutines still run. Its read
// function is built once, so a try allocates nothing.
type spinReader struct {
	raw   syscall.RawConn
	p     []byte
	n     int
	errno error
	try   func(fd uintptr) bool
}

func newSpinReader(raw syscall.RawConn) *spinReader {
	s := &spinReader{raw: raw}
	s.try = func(fd uintptr) bool {
		s.n, s.errno = syscall.Read(int(fd), s.p)
		return true // never wait for readiness
	}
	return s
}

func (s *spinReader) Read(p []byte) (int, error) {
	s.p = p
	defer func() { s.p = nil }()
	for {
		if err := s.raw.Read(s.try); err != nil {
			return 0, err
		}
		switch {
		case s.errno == syscall.EAGAIN:
			runtime.Gosched()
		case s.errno != nil:
			return 0, os.NewSyscallError("read", s.errno)
		case s.n == 0:
			return 0, io.EOF
		default:
			return s.n, nil
		}
	}
}
