package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
	"nergateway/replication/docsync"
)

// With Options.Documents the region's training reads real blob storage: a
// document missing from the container fails training until it is there.
func TestTrainingReadsBlobStorage(t *testing.T) {
	az := azurite.Start(t)
	store, err := docsync.NewStore(az.URL, docsync.Options{Key: secret.Secret(azurite.Key)})
	require.NoError(t, err)
	r := newRegion(t, Options{Documents: store})
	seed := SeedProject{Name: "p", Container: "docs", ModelLabel: "m1", DeploymentName: "prod",
		Documents: []SeedDocument{{Name: "01.txt", Text: "Contoso in Köln.",
			Labels: []api.Label{{Category: "City", Offset: 11, Length: 4}}}}}
	require.NoError(t, r.Seed(seed), "seeding writes to blob storage and trains from it")
	text, found, err := store.ReadDocument(t.Context(), "docs", "01.txt")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "Contoso in Köln.", text)
	got, ok := r.Document("docs", "01.txt")
	require.True(t, ok)
	require.Equal(t, text, got)

	_, err = store.Container("docs").NewBlobClient("01.txt").Delete(t.Context(), nil)
	require.NoError(t, err)
	c, err := api.NewClient(r.URL, secret.Secret(testKey), api.ClientOptions{PollInterval: time.Millisecond})
	require.NoError(t, err)
	train := func() error {
		op, err := c.Train(t.Context(), "p", api.TrainRequest{ModelLabel: "m2", TrainingConfigVersion: "latest"})
		require.NoError(t, err)
		_, err = c.Wait(t.Context(), op, nil)
		return err
	}
	err = train()
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "01.txt"), "the failure names the document: %v", err)

	r.PutDocument("docs", "01.txt", "Contoso in Köln.")
	require.NoError(t, train(), "training succeeds once the container holds the document")
}
