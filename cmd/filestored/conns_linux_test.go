package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// acceptQueue is the number of connections the kernel holds for ln, not
// yet accepted: the rx_queue of its LISTEN line in /proc/net/tcp.
func acceptQueue(t *testing.T, ln net.Listener) int {
	t.Helper()
	port := ln.Addr().(*net.TCPAddr).Port
	local := fmt.Sprintf("0100007F:%04X", port)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[1] != local || fields[3] != "0A" {
			continue
		}
		_, rx, _ := strings.Cut(fields[4], ":")
		n, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/tcp %q: %v", sc.Text(), err)
		}
		return int(n)
	}
	t.Fatalf("no LISTEN line for %s in /proc/net/tcp", local)
	return 0
}

// waitInBacklog waits, at most 30 seconds, until one connection waits in
// the accept backlog of s: one the server has not taken.
func waitInBacklog(t *testing.T, s *capServer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for acceptQueue(t, s.ln) != 1 {
		if time.Now().After(deadline) {
			open, idle, _ := s.conns.counts()
			t.Fatalf("the connection over the cap is not waiting in the backlog (queue %d; %d open, %d idle)", acceptQueue(t, s.ln), open, idle)
		}
		time.Sleep(5 * time.Millisecond) // polling observable state
	}
}

// TestActiveNotClosedForRoom: requests in progress are never closed for
// room. With --max-conns 2 and both connections busy, a third one is not
// served; once one request ends, its connection, idle at the cap, is
// closed and the third one is served, and the other request still ends
// whole.
func TestActiveNotClosedForRoom(t *testing.T) {
	s := startCapServer(t, 2)
	b, d := dial(t, s.addr), dial(t, s.addr)
	b.send(t, "/block?id=b")
	s.waitEntered(t, "b")
	d.send(t, "/block?id=d")
	s.waitEntered(t, "d")

	c := dial(t, s.addr) // the kernel completes the handshake; it waits to be accepted
	c.send(t, "/")
	waitInBacklog(t, s)
	s.waitCounts(t, 2, 0, 0)

	close(s.gate("b"))
	if status, body := b.answer(t); status != 200 || body != "done b" {
		t.Fatalf("b: %d %q", status, body)
	}
	b.waitClosed(t) // idle at the cap
	if status, body := c.answer(t); status != 200 || body != "ok" {
		t.Fatalf("c, once b ended: %d %q", status, body)
	}
	close(s.gate("d"))
	if status, body := d.answer(t); status != 200 || body != "done d" {
		t.Fatalf("d: %d %q", status, body)
	}
}
