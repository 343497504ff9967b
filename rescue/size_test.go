package rescue

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"nergateway/internal/testkit/redistest"
	"nergateway/internal/testkit/syncbuf"

	"github.com/stretchr/testify/require"
)

// BenchmarkStoredJobSize measures what one kept job costs the store: heap
// for the memory backend, used_memory for Redis, per job, for a one-document
// submit (about 600 bytes) and a 25-document one (about 25 KB). Run:
// go test -run x -bench StoredJobSize -benchtime 1x ./rescue
func BenchmarkStoredJobSize(b *testing.B) {
	const jobs = 10000
	for _, docs := range []int{1, 25} {
		job := Job{Query: "api-version=2023-04-01", ContentType: "application/json", Body: submitOf(docs)}
		b.Run(fmt.Sprintf("memory/%ddocs", docs), func(b *testing.B) {
			for b.Loop() {
				s := openStore(b, BackendMemory, &fakeClock{t: time.Now()}, &syncbuf.Buffer{}, nil)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				putJobs(b, s, jobs, job)
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/jobs, "B/job")
				b.ReportMetric(float64(len(job.Body)), "body-B")
				runtime.KeepAlive(s)
			}
		})
		b.Run(fmt.Sprintf("redis/%ddocs", docs), func(b *testing.B) {
			r := redistest.Start(b)
			c := r.Client()
			defer c.Close()
			for b.Loop() {
				s := openStore(b, r.URL(), &fakeClock{t: time.Now()}, &syncbuf.Buffer{}, nil)
				before := usedMemory(b, r)
				putJobs(b, s, jobs, job)
				b.ReportMetric(float64(usedMemory(b, r)-before)/jobs, "B/job")
				b.ReportMetric(float64(len(job.Body)), "body-B")
				require.NoError(b, c.FlushAll(context.Background()).Err())
			}
		})
	}
}

func putJobs(b *testing.B, s *Store, n int, job Job) {
	b.Helper()
	ctx := context.Background()
	for i := range n {
		// Gateway job ids are 36-character UUIDs.
		require.NoError(b, s.Put(ctx, fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), job))
	}
}

func usedMemory(b *testing.B, r *redistest.Server) int64 {
	b.Helper()
	c := r.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "memory").Result()
	require.NoError(b, err)
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	require.Fail(b, "no used_memory in INFO memory")
	return 0
}

// submitOf is a custom NER submit of n documents of about a kilobyte.
func submitOf(n int) []byte {
	var docs []string
	text := strings.Repeat("Contoso signs the lease in Köln with Fabrikam. ", 20)
	for i := range n {
		docs = append(docs, fmt.Sprintf(`{"id":"%d","language":"en","text":%q}`, i+1, text))
	}
	return []byte(`{"displayName":"bench","analysisInput":{"documents":[` + strings.Join(docs, ",") +
		`]},"tasks":[{"kind":"CustomEntityRecognition","parameters":{"projectName":"contracts","deploymentName":"production"}}]}`)
}
