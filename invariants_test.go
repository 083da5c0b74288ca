package filestore_test

import (
	"testing"

	"github.com/filestore-go/filestore/filestoretest"
)

// checkInvariants is filestoretest.CheckInvariants.
func checkInvariants(t *testing.T, dbURL, bucketURL string, collected bool) int {
	t.Helper()
	return filestoretest.CheckInvariants(t, dbURL, bucketURL, collected)
}
