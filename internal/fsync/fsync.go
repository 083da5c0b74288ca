// Package fsync holds the system calls that make file data durable, and
// the Linux writeback control that lets a writer overlap flushing with
// writing: fdatasync(2) and sync_file_range(2), and the directory fsyncs
// that make created entries durable. The storage and dedup packages and the
// load tool's bare reference server use the same calls.
package fsync
