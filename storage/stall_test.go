package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
)

// pace copies between a net.Pipe end and memory in pieces of chunk bytes,
// gap apart: the pace of a slow but moving peer.
func paceRead(c net.Conn, n, chunk int, gap time.Duration) ([]byte, error) {
	var got []byte
	buf := make([]byte, chunk)
	for len(got) < n {
		m, err := c.Read(buf)
		got = append(got, buf[:m]...)
		if err != nil {
			return got, err
		}
		time.Sleep(gap) // a slow peer's pace, not synchronisation
	}
	return got, nil
}

func paceWrite(c net.Conn, data []byte, chunk int, gap time.Duration) error {
	for len(data) > 0 {
		m := min(chunk, len(data))
		if _, err := c.Write(data[:m]); err != nil {
			return err
		}
		data = data[m:]
		time.Sleep(gap) // a slow peer's pace, not synchronisation
	}
	return nil
}

// TestStallConn: a stallConn (stall 500 ms here) fails a read or a write
// that makes no progress for the stall timeout with a transient error
// wrapping ErrStalled, and lets through transfers that take several stall
// timeouts but keep moving; the read that waits for an answer while a
// request is written (as net/http's does) lasts as long as the writing.
// net.Pipe has no buffers: what is written is what the peer has read.
func TestStallConn(t *testing.T) {
	const stall = 500 * time.Millisecond
	pipe := func(t *testing.T) (*stallConn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &stallConn{Conn: a, stall: stall, slow: time.Minute}, b
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB

	t.Run("silent peer fails a read", func(t *testing.T) {
		c, _ := pipe(t)
		_, err := c.Read(make([]byte, 10))
		if !errors.Is(err, ErrStalled) || !IsTransient(err) {
			t.Fatalf("Read from a silent peer = %v, want a transient error wrapping ErrStalled", err)
		}
	})
	t.Run("peer that reads nothing fails a write", func(t *testing.T) {
		c, _ := pipe(t)
		_, err := c.Write(data)
		if !errors.Is(err, ErrStalled) || !IsTransient(err) {
			t.Fatalf("Write to a peer that reads nothing = %v, want a transient error wrapping ErrStalled", err)
		}
	})
	t.Run("slow but moving write", func(t *testing.T) {
		c, peer := pipe(t)
		done := make(chan error, 1)
		var got []byte
		go func() {
			var err error
			got, err = paceRead(peer, len(data), 16<<10, 100*time.Millisecond) // 1.6 s
			done <- err
		}()
		if _, err := c.Write(data); err != nil {
			t.Fatalf("slow but moving Write: %v", err)
		}
		if err := <-done; err != nil || !bytes.Equal(got, data) {
			t.Fatalf("peer read %d bytes, %v", len(got), err)
		}
	})
	t.Run("slow but moving read", func(t *testing.T) {
		c, peer := pipe(t)
		done := make(chan error, 1)
		go func() { done <- paceWrite(peer, data, 16<<10, 100*time.Millisecond) }()
		got, err := io.ReadAll(io.LimitReader(c, int64(len(data))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("slow but moving Read: %d bytes, %v", len(got), err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("answer awaited while a long request is written", func(t *testing.T) {
		c, peer := pipe(t)
		answer := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(c, make([]byte, 2))
			answer <- err
		}()
		peerDone := make(chan error, 1)
		go func() {
			if _, err := paceRead(peer, len(data), 16<<10, 100*time.Millisecond); err != nil {
				peerDone <- err
				return
			}
			_, err := peer.Write([]byte("ok"))
			peerDone <- err
		}()
		if _, err := c.Write(data); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := <-answer; err != nil {
			t.Fatalf("the Read pending while the request was written (1.6 s, stall %v) = %v, want the answer", stall, err)
		}
		if err := <-peerDone; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("slow answer allowed", func(t *testing.T) {
		c, peer := pipe(t)
		c.slowing.Add(1)
		go func() {
			time.Sleep(3 * stall) // the server's slowness, not synchronisation
			_, _ = peer.Write([]byte("ok"))
		}()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("Read of a slow answer (first byte after 3 stall timeouts, slow %v) = %v", c.slow, err)
		}
	})
}

// TestSilenceRetryer: the SDK retries an S3 request after one unanswered
// try (a stall, a timed-out wait for headers), not after a second, while
// tries that got an answer keep the retryer's own attempts, however many.
func TestSilenceRetryer(t *testing.T) {
	r := &silenceRetryer{Retryer: awsretry.NewStandard(func(o *awsretry.StandardOptions) {
		o.RateLimiter = ratelimit.None
	})}
	stalled := &stallError{op: "read", timeout: time.Second, err: os.ErrDeadlineExceeded}
	answered := errors.New("500 InternalError")
	ctx := context.WithValue(t.Context(), opSilenceKey{}, new(atomic.Int32))
	for i, tt := range []struct {
		err  error
		want error
	}{
		{answered, nil},
		{stalled, nil},
		{answered, nil},
		{answered, nil},
		{stalled, errTooSilent},
		{answered, nil},
	} {
		if _, err := r.GetRetryToken(ctx, tt.err); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("try %d (%v): GetRetryToken = %v, want %v", i+1, tt.err, err, tt.want)
		}
	}
	if !silent(context.Background(), stalled) || silent(context.Background(), answered) || silent(doneCtx(), context.DeadlineExceeded) {
		t.Errorf("silent(stall, answered, DeadlineExceeded) = %v, %v, %v; want true, false, false",
			silent(context.Background(), stalled), silent(context.Background(), answered), silent(doneCtx(), context.DeadlineExceeded))
	}
}

func doneCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
