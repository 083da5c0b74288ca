package httpapi

import "github.com/filestore-go/filestore"

// nopStore satisfies filestore.Store for tests that never call it.
type nopStore struct{ filestore.Store }
