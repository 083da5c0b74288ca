// Package dedup is filestore's catalogue: the SQL tables of stored objects
// (one row per distinct SHA-256, with its storage key and reference count,
// and for small content the bytes themselves: an inline object, see
// CommitRequest.Data) and of files (owner, folder, name and metadata, each pointing at an
// object), over bun on SQLite or PostgreSQL.
//
// It owns the consistency protocol between uploads, purges and garbage
// collection, enforced by the database alone so that any number of processes
// can share one catalogue:
//
//   - Commit runs in one transaction (on PostgreSQL, new content commits as
//     a single statement, its own implicit transaction) that takes the
//     object row by SHA-256
//     with an upsert (INSERT ... ON CONFLICT (sha256) DO UPDATE, which locks
//     the row on PostgreSQL; a SQLite transaction holds the write lock from
//     BEGIN IMMEDIATE): a live row gets ref_count+1 and the new file row
//     (the caller then deletes its staged bytes); no row means the staged
//     key becomes the object; a row being deleted by the collector is taken
//     over with the staged key (and its inline bytes, or none), so the
//     collector's deletion of the old key harms nothing.
//   - A purge that drops the last reference marks the object "deleting" in
//     the same transaction; the caller deletes the bytes and then the row
//     (RemoveObject matches the key, so a taken-over row survives).
//   - The collector marks unreferenced rows "deleting" (skipping rows locked
//     by a commit), commits, deletes their bytes, then their rows. A crash
//     between those steps leaves a "deleting" row that the next run finishes.
//
// ref_count always equals the number of file rows (live or trashed) that
// point at the object: it is changed only in the transactions that insert or
// delete those rows.
//
// Every function and method that takes a ctx stops when ctx is done, with
// an error wrapping ctx.Err(), and its transaction rolls back; one whose
// COMMIT (or, on PostgreSQL, whose single statement) was already sent may
// have committed, which a retry of the same commit finds (see
// CommitRequest.Retry). Not-found is ErrNotFound.
package dedup
