package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// keepBody is how much of a response body a client keeps (for Location,
// error messages and JSON); the rest is counted and dropped.
const keepBody = 64 << 10

// request is one HTTP/1.1 request of the raw client.
type request struct {
	method string
	target string // origin-form: path and query
	header http.Header
	body   *body // nil: no body
}

// response is what came back: the status, the headers, the first keepBody
// bytes of the body and the body's full length.
type response struct {
	status int
	header http.Header
	body   []byte
	n      int64 // body bytes received
}

// rawClient is one keep-alive HTTP/1.1 connection to one server, used by one
// worker at a time. It writes a request's head and body itself, the body in
// writes of up to a MiB, because net/http's transport copies a body in 32 KiB
// pieces whatever the body offers; it reads responses with net/http's parser,
// and bodies in reads of up to a MiB (never io.Copy into io.Discard).
type rawClient struct {
	host    string // host:port, also the Host header
	timeout time.Duration

	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	scratch []byte // 1 MiB read buffer
}

// newRawClient returns a client for host (host:port); each request must end
// within timeout. It connects on first use.
func newRawClient(host string, timeout time.Duration) *rawClient {
	return &rawClient{host: host, timeout: timeout, scratch: make([]byte, blockSize)}
}

// close drops the connection, if any.
func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *rawClient) dial(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.host)
	if err != nil {
		return err
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 64<<10)
	c.bw = bufio.NewWriterSize(conn, 64<<10)
	return nil
}

// do sends req and reads the whole response. A request that fails on a
// reused connection before any byte of the answer arrived (the server closed
// it while idle) is sent once more on a new connection; its body is generated
// again from the start. Cancelling ctx aborts the request.
func (c *rawClient) do(ctx context.Context, req *request) (*response, error) {
	reused := c.conn != nil
	resp, err := c.once(ctx, req)
	if err != nil && reused && staleConn(err) && ctx.Err() == nil {
		if req.body != nil {
			req.body.off = 0
		}
		resp, err = c.once(ctx, req)
	}
	return resp, err
}

// staleConn reports whether err is what a write to, or the first read from,
// a connection the server has closed gives.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *rawClient) once(ctx context.Context, req *request) (*response, error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
	conn := c.conn
	if err := conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	werr := c.writeRequest(req)
	// Read the answer even after a failed write: a server may answer (413,
	// 401) and close before reading the whole body.
	resp, rerr := c.readResponse(req)
	if rerr != nil {
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr != nil {
			return nil, fmt.Errorf("writing the request: %w", werr)
		}
		return nil, rerr
	}
	if werr != nil {
		c.close()
	}
	return resp, nil
}

// writeRequest writes the head and the body (in large writes) and flushes.
func (c *rawClient) writeRequest(req *request) error {
	bw := c.bw
	bw.WriteString(req.method)
	bw.WriteByte(' ')
	bw.WriteString(req.target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(c.host)
	bw.WriteString("\r\n")
	if err := req.header.Write(bw); err != nil {
		return err
	}
	if req.body != nil {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.body.size, 10))
		bw.WriteString("\r\n")
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	if req.body != nil {
		// bufio.Writer passes writes larger than its free space straight
		// to the connection once it has flushed the head.
		if _, err := req.body.WriteTo(bw); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// readResponse reads the status, headers and body; it closes the connection
// when the server asked to.
func (c *rawClient) readResponse(req *request) (*response, error) {
	hr, err := http.ReadResponse(c.br, &http.Request{Method: req.method})
	if err != nil {
		return nil, err
	}
	resp := &response{status: hr.StatusCode, header: hr.Header}
	for {
		m, err := hr.Body.Read(c.scratch)
		if keep := min(m, keepBody-len(resp.body)); keep > 0 {
			resp.body = append(resp.body, c.scratch[:keep]...)
		}
		resp.n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = hr.Body.Close()
			return nil, fmt.Errorf("reading the response body: %w", err)
		}
	}
	_ = hr.Body.Close()
	if hr.Close {
		c.close()
	}
	return resp, nil
}
