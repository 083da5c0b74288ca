package storage

// SetPageSize sets the listing page size of remote buckets (tests use a small
// one to cross page boundaries).
func SetPageSize(b *Bucket, n int) { b.pageSize = n }
