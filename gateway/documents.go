package gateway

import (
	"fmt"
	"os"
	"strings"

	"nergateway/internal/config"
	"nergateway/replication"
	"nergateway/replication/docsync"
)

// withDocuments adds to rc the document sync (DOCUMENT_SYNC) and the
// canary (REPLICATION_CANARY_*), with the regions' runtime clients. Errors
// never quote a storage URL: a SAS may be in it.
func withDocuments(rc *replication.Config, cfg *config.Config, primary, secondary replication.Analyzer) error {
	var from *docsync.Store
	if cfg.PrimaryStorageURL.Reveal() != "" {
		s, err := docsync.NewStore(cfg.PrimaryStorageURL.Reveal(), docsync.Options{Key: cfg.PrimaryStorageKey, Timeout: cfg.UpstreamTimeout, Side: "primary"})
		if err != nil {
			return fmt.Errorf("PRIMARY_STORAGE_URL: %w", err)
		}
		from = s
	}
	if cfg.DocumentSync != config.DocumentSyncOff {
		to, err := docsync.NewStore(cfg.SecondaryStorageURL.Reveal(), docsync.Options{Key: cfg.SecondaryStorageKey, Timeout: cfg.UpstreamTimeout, Side: "secondary"})
		if err != nil {
			return fmt.Errorf("SECONDARY_STORAGE_URL: %w", err)
		}
		rc.Documents = &docsync.Syncer{From: from, To: to, Copy: cfg.DocumentSync == config.DocumentSyncCopy}
	}
	rc.PrimaryRuntime, rc.SecondaryRuntime = primary, secondary
	rc.CanaryDocs, rc.CanaryStore, rc.CanaryMinAgreement = cfg.CanaryDocs, from, cfg.CanaryMinAgreement
	if from == nil && cfg.CanaryFile != "" {
		b, err := os.ReadFile(cfg.CanaryFile)
		if err != nil {
			return fmt.Errorf("REPLICATION_CANARY_FILE: %w", err)
		}
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" {
				rc.CanaryTexts = append(rc.CanaryTexts, line)
			}
		}
		if len(rc.CanaryTexts) == 0 {
			return fmt.Errorf("REPLICATION_CANARY_FILE %s holds no document (one a line)", cfg.CanaryFile)
		}
	}
	return nil
}
