// Package clientaddr groups client addresses as filestore's per-client
// limits count them: the per-IP rate limit of httpapi and filestored's
// per-address connection cap.
package clientaddr

import "net/netip"

// Key returns the network under which per-client limits count a: the
// address itself (a /32) for IPv4, IPv4-mapped IPv6 included, and its
// /64 for IPv6, zone dropped, since one host usually has a whole /64. An
// invalid a gives the zero Prefix.
func Key(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// In reports whether a is in one of prefixes. An IPv4-mapped a is
// compared as IPv4 and an IPv6 zone is ignored: a link-local peer such as
// fe80::1%eth0 is in fe80::/10 (netip.Prefix.Contains alone says it is
// in no prefix). An invalid a is in none.
func In(a netip.Addr, prefixes []netip.Prefix) bool {
	a = a.Unmap().WithZone("")
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
