package httpapi

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/filestore-go/filestore/internal/clientaddr"
)

// clientIP returns the address of the client that sent r: the connection's
// peer, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For entry that is not a trusted proxy. Entries to the left
// of it are the client's own claims and are never believed. When every
// entry is trusted the left-most one is the client; when the right-most
// untrusted entry is malformed, the last trusted hop is used.
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	} else {
		return netip.Addr{}, false
	}
	if len(trusted) == 0 || !clientaddr.In(addr, trusted) {
		return addr, true
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			hop, err := netip.ParseAddr(e)
			if err != nil {
				// Forwarders write "[v6]:port" or "v4:port" sometimes.
				ap, perr := netip.ParseAddrPort(e)
				if perr != nil {
					return addr, true
				}
				hop = ap.Addr()
			}
			hop = hop.Unmap().WithZone("")
			if !clientaddr.In(hop, trusted) {
				return hop, true
			}
			addr = hop
		}
	}
	return addr, true
}

// rateKey is the rate limiter's key for a client address: the address
// itself for IPv4, its /64 network for IPv6 (see clientaddr.Key).
func rateKey(a netip.Addr) string {
	k := clientaddr.Key(a)
	if k.Addr().Is4() {
		return k.Addr().String()
	}
	return k.String()
}
