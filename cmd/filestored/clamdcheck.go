package main

import (
	"context"
	"log/slog"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/scan"
)

// checkClamd asks clamd once at start whether it answers, so that a wrong
// --clamd address or a clamd not yet started shows in the log at once
// rather than with the first upload: a PING (bounded by
// --clamd-probe-timeout), then, if it answered, VERSION within the same
// bound for the INFO line. An answer of neither is logged at WARN with
// what uploads meet until clamd answers; filestored serves all the same
// (clamd may come up later; /readyz reports it under fail-closed). It
// returns at once, logging nothing, when ctx ends first.
func checkClamd(ctx context.Context, clam *scan.ClamAV, c *config, logger *slog.Logger) {
	uploads := "refused with 503 scanner_unavailable"
	if filestore.ScanPolicy(c.scanPolicy) == filestore.FailOpen {
		uploads = "stored unscanned (fail-open)"
	}
	if err := clam.Ping(ctx); err != nil {
		if ctx.Err() == nil {
			logger.Warn("clamd does not answer", "clamd", c.clamd, "error", err, "uploads", uploads+" until it does")
		}
		return
	}
	vctx, cancel := context.WithTimeout(ctx, c.clamdProbeWait)
	defer cancel()
	v, err := clam.Version(vctx)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		logger.Warn("clamd answers PING but not VERSION", "clamd", c.clamd, "error", err, "uploads", uploads+" until it does")
	default:
		logger.Info("clamd answers", "clamd", c.clamd, "version", v.String())
	}
}
