package scan

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/filestore-go/filestore"
)

// defaultPort is clamd's usual TCP port, used when a tcp:// address has none.
const defaultPort = "3310"

// endpoint is where clamd listens: a network for net.Dial and its address.
type endpoint struct {
	network string // "tcp" or "unix"
	address string // host:port or socket path
}

// parseAddr parses "tcp://host[:port]" (port 1-65535, 3310 when absent)
// or "unix:///absolute/path". Anything else is an error wrapping
// filestore.ErrInvalidArgument.
func parseAddr(addr string) (endpoint, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("scan: clamd address %q: %v: %w", addr, err, filestore.ErrInvalidArgument)
	}
	bad := func(why string) (endpoint, error) {
		return endpoint{}, fmt.Errorf("scan: clamd address %q: %s: %w", addr, why, filestore.ErrInvalidArgument)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("only tcp://host:port or unix:///path")
	}
	switch u.Scheme {
	case "tcp":
		if u.Path != "" && u.Path != "/" {
			return bad("a tcp address has no path")
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return bad("no host")
		}
		if port == "" {
			port = defaultPort
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port " + port + " is outside 1-65535")
		}
		return endpoint{network: "tcp", address: net.JoinHostPort(host, port)}, nil
	case "unix":
		if u.Host != "" {
			return bad(`a unix address is "unix:///absolute/path" (three slashes)`)
		}
		if len(u.Path) < 2 || u.Path[0] != '/' {
			return bad("no absolute socket path")
		}
		return endpoint{network: "unix", address: u.Path}, nil
	default:
		return bad("scheme must be tcp or unix")
	}
}

// String returns the address in the form parseAddr reads.
func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix://" + e.address
	}
	return "tcp://" + e.address
}
