package rescue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Job is what it takes to submit an accepted job again: the client's
// request as the gateway received it (names still the primary's, so the
// proxy maps them for the region it resubmits to).
type Job struct {
	// Query is the submit's raw query string (api-version).
	Query string
	// ContentType is the submit's Content-Type header.
	ContentType string
	// Body is the submit's body: the client's documents.
	Body []byte
	// Accepted is when the region accepted the job (the gateway's clock):
	// a job's rescue clock never starts before it, and a job accepted
	// after a replica saw its region go down proves the region came back.
	// Zero in records written before it was kept.
	Accepted time.Time
}

// A record's first byte says how its accepted time is kept. A record
// written before Accepted was kept starts with its query's length instead,
// never 0 or 1 (a kept submit has an api-version), so every form reads right
// during an upgrade.
const (
	// acceptedMillis: Unix milliseconds, as the first records with an
	// accepted time were written; still read.
	acceptedMillis = 0
	// acceptedNanos: Unix nanoseconds, as records are written now. A job
	// the owner accepted in the same millisecond as a replica saw it go
	// down is ordered right: before the outage it is rescued, after it
	// proves the owner came back (rescue.Store.JobDueIn).
	acceptedNanos = 1
)

// encode frames a Job for sealing: the mark and the accepted time (Unix
// nanoseconds; 0: not known), the query and content type with their
// lengths, then the body, so a body costs no escaping or base64.
func (j Job) encode() []byte {
	out := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(j.Query)+len(j.ContentType)+len(j.Body))
	var ns int64
	if !j.Accepted.IsZero() {
		ns = max(j.Accepted.UnixNano(), 1)
	}
	out = append(out, acceptedNanos)
	out = binary.AppendUvarint(out, uint64(ns))
	out = binary.AppendUvarint(out, uint64(len(j.Query)))
	out = append(out, j.Query...)
	out = binary.AppendUvarint(out, uint64(len(j.ContentType)))
	out = append(out, j.ContentType...)
	return append(out, j.Body...)
}

var errBadRecord = errors.New("rescue: malformed job record")

func decodeJob(b []byte) (Job, error) {
	var j Job
	if len(b) > 0 && (b[0] == acceptedMillis || b[0] == acceptedNanos) {
		at, k := binary.Uvarint(b[1:])
		if k <= 0 || at > 1<<62 {
			return Job{}, errBadRecord
		}
		switch {
		case at == 0:
		case b[0] == acceptedMillis:
			j.Accepted = time.UnixMilli(int64(at))
		default:
			j.Accepted = time.Unix(0, int64(at))
		}
		b = b[1+k:]
	}
	var fields [2]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return Job{}, errBadRecord
		}
		fields[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	j.Query, j.ContentType, j.Body = fields[0], fields[1], b
	return j, nil
}

// Phase is where a job stands in the rescue protocol.
type Phase string

// Phases. A job with no record at all is PhaseNone.
const (
	// PhaseNone: never claimed; polls go to the owner.
	PhaseNone Phase = ""
	// PhaseClaimed: a replica won the claim and is resubmitting now.
	PhaseClaimed Phase = "claimed"
	// PhaseRescued: the job runs again in State.Region as State.UpstreamID;
	// every poll reads that job.
	PhaseRescued Phase = "rescued"
	// PhaseGone: the body was not there when claimed (a final state was
	// seen, or the TTL passed): the job is never resubmitted.
	PhaseGone Phase = "gone"
	// PhaseFinished: a poll saw the job's final status (Forget), so every
	// replica knows the job is over: it is never resubmitted, and a poll
	// while its region is down gets 503, never a calm "running".
	PhaseFinished Phase = "finished"
)

// State is a job's rescue state, shared by every replica. It holds no
// document text, so it is stored in clear.
type State struct {
	Phase Phase `json:"p"`
	// Holder identifies the claiming replica (PhaseClaimed), so only it
	// can release its claim.
	Holder string `json:"h,omitempty"`
	// Region and UpstreamID name the rescued job (PhaseRescued): the
	// region's name and that region's own job id.
	Region     string `json:"r,omitempty"`
	UpstreamID string `json:"j,omitempty"`
	// From, FromID and APIVersion name the first copy (PhaseRescued): the
	// region that was down, its job id there and the submit's
	// api-version, so that copy can be cancelled once the region answers
	// again (Store.ClaimOriginal).
	From       string `json:"f,omitempty"`
	FromID     string `json:"o,omitempty"`
	APIVersion string `json:"v,omitempty"`
}

func (s State) encode() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return string(b)
}

func decodeState(v string) (State, error) {
	if v == "" {
		return State{}, nil
	}
	var s State
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return State{}, fmt.Errorf("rescue: malformed state: %w", err)
	}
	switch s.Phase {
	case PhaseClaimed, PhaseGone, PhaseFinished:
	case PhaseRescued:
		if s.Region == "" || s.UpstreamID == "" {
			return State{}, errors.New("rescue: rescued state without region or job")
		}
	default:
		return State{}, fmt.Errorf("rescue: unknown phase %q", s.Phase)
	}
	return s, nil
}
