package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// newUUID returns a random version-4 UUID in Azure's lowercase 8-4-4-4-12
// form: runtime job ids and apim-request-id look like this, and Azure's JS
// SDK refuses to cancel a job whose id has another shape.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// dotNetEpochTicks is 0001-01-01 to 1970-01-01 in .NET ticks (100 ns).
const dotNetEpochTicks = 621355968000000000

// authoringJobID returns an id shaped like Azure's authoring job ids,
// "{guid}_{ticks}", ticks being the creation time in .NET ticks.
func authoringJobID(created time.Time) string {
	return newUUID() + "_" + strconv.FormatInt(created.UnixNano()/100+dotNetEpochTicks, 10)
}

// newModelID returns an id shaped like Azure's trained model ids,
// "{label}-{yyyyMMddTHHmmss}-{hex}".
func newModelID(label string, trained time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return label + "-" + trained.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}
