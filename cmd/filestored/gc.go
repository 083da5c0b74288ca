package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/filestore-go/filestore"
)

// collectEvery runs st.Collect every interval until ctx is done, and logs
// what each run removed, or its error. A run that ctx cuts short changes
// nothing it had not finished (Collect is safe to stop anywhere, and to run
// in several servers at once).
func collectEvery(ctx context.Context, st filestore.Store, interval time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		res, err := st.Collect(ctx, nil)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.Warn("gc", "error", err)
		default:
			logger.Info("gc", "purged_files", res.PurgedFiles, "removed_objects", res.RemovedObjects, "removed_staging", res.RemovedStaging)
		}
	}
}
