package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/filestore-go/filestore/httpapi"
)

// smallBuffers makes a socket's kernel buffers small, so that what a peer
// has sent is close to what the other side has read.
func smallBuffers(opt int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 32<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// TestUploadRefusedAfterLimit sends a generated 1 GiB body against a 1 MiB
// limit and counts the bytes the client managed to send: the server stops
// reading right after the limit, answers 413 and closes the connection, so
// the count stays near 1 MiB (plus the socket buffers, made small here).
func TestUploadRefusedAfterLimit(t *testing.T) {
	const limit = 1 << 20
	lc := net.ListenConfig{Control: smallBuffers(syscall.SO_RCVBUF)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{cfg: httpapi.Config{MaxSize: limit}, listener: ln})
	tok := e.token("alice")

	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			d := net.Dialer{Control: smallBuffers(syscall.SO_SNDBUF)}
			conn, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const total = 1 << 30
			framing := fmt.Sprintf("Content-Length: %d", total)
			if chunked {
				framing = "Transfer-Encoding: chunked"
			}
			fmt.Fprintf(conn, "POST /v1/files?name=huge.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n\r\n", tok, framing)

			sent := make(chan int64, 1)
			go func() {
				buf := make([]byte, 32<<10)
				for i := range buf {
					buf[i] = byte(i)
				}
				var n int64
				for n < total {
					chunk := buf
					if chunked {
						chunk = append(fmt.Appendf(nil, "%x\r\n", len(buf)), append(buf, '\r', '\n')...)
					}
					w, err := conn.Write(chunk)
					n += int64(w)
					if err != nil {
						break
					}
				}
				sent <- n
			}()
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			wantProblem(t, &response{status: res.StatusCode, header: res.Header, body: body}, 413, "too_large")
			if !res.Close {
				t.Error("413 without Connection: close")
			}
			conn.Close() // unblocks the writer if the server has not yet closed
			n := <-sent
			if n > 2*limit {
				t.Errorf("the client sent %d bytes before the server stopped reading; want about %d", n, limit)
			}
			t.Logf("client sent %d bytes (limit %d)", n, limit)
			line := e.logs.waitRequest(t, "POST /v1/files")
			if in := line["bytes_in"].(int64); in > limit+64<<10 {
				t.Errorf("the server read %d body bytes, want at most about %d", in, limit)
			}
		})
	}
}
