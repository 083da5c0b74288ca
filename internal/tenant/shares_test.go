package tenant

import "testing"

func TestShares(t *testing.T) {
	made := 0
	s := NewShares(func(string) *int { made++; v := made; return &v })
	a1, a2, b := s.Take("alice"), s.Take("alice"), s.Take("bob")
	if a1 != a2 || *a1 != 1 || *b != 2 || s.Len() != 2 {
		t.Fatalf("alice %d/%d (same %v), bob %d, %d held; want 1/1 (same), 2, 2", *a1, *a2, a1 == a2, *b, s.Len())
	}
	s.Drop("alice")
	if s.Len() != 2 {
		t.Errorf("%d held after one of alice's two Drops, want 2", s.Len())
	}
	s.Drop("alice")
	s.Drop("bob")
	s.Drop("carol") // never taken: a no-op
	if s.Len() != 0 {
		t.Errorf("%d held after every Drop, want 0", s.Len())
	}
	if a := s.Take("alice"); *a != 3 {
		t.Errorf("alice's value after she was forgotten: %d, want a new one (3)", *a)
	}
}
