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
	defer r.Close()
	read := r.Read
	if busyPoll {
		raw, err := r.(*net.TCPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		read = func(p []byte) (int, error) { return spinRead(raw, p) }
	}

	got := make(chan time.Time, 1) // when the reader had a whole frame
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, len(frame))
		for {
			if _, err := io.ReadFull(readerFunc(read), buf); err != nil {
				return
			}
			got <- time.Now()
		}
	}()
	defer func() { r.Close(); <-readerDone }()

	lat := make([]time.Duration, 0, b.N)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("frame %d not delivered within 10s", i)
		}
		// Both sides go idle between frames, as between market moves: the pause is the
		// condition measured, not a wait for an event.
		idle.Reset(time.Millisecond)
		<-idle.C
	}
	b.StopTimer()
	reportLatency(b, lat)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// spinRead reads without ever parking in the network poller: it retries a non-blocking read,
// yielding the processor between tries so that other goroutines still run.
func spinRead(raw syscall.RawConn, p []byte) (int, error) {
	for {
		var n int
		var errno error
		if err := raw.Read(func(fd uintptr) bool {
			n, errno = syscall.Read(int(fd), p)
			return true // never wait for readiness
		}); err != nil {
			return 0, err
		}
		switch {
		case errno == syscall.EAGAIN:
			runtime.Gosched()
		case errno != nil:
			return 0, os.NewSyscallError("read", errno)
		case n == 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}
