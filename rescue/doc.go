// Package rescue keeps what the gateway needs to run an accepted job again
// when the region that owns it dies: the submit's body, sealed with
// AES-GCM, for the job's life, and the job's rescue state, shared by every
// gateway replica through one store (in process memory, or Redis).
//
// A job's life in the store:
//
//	Put       on an accepted submit (one write): the sealed body, TTL JOB_RESCUE_TTL;
//	          bounded by JOB_RESCUE_MAX_BYTES (memory drops its oldest bodies; a body
//	          over the bound, or Redis at maxmemory, keeps nothing): never fails the submit
//	State     on every poll (one read): none, claimed, rescued to region R as job J,
//	          gone, or finished
//	Claim     when the owner has been down long enough: an atomic, leased claim that
//	          exactly one replica wins; the winner gets the body back
//	Rescued   the winner records where the job runs now (kept for the TTL) and
//	          queues the job's first copy in its region for a cancel
//	Release   the winner could not resubmit: the claim is freed for a later poll
//	Forget    a poll saw a final state: the body is deleted, so the job is never
//	          resubmitted, and the job is marked finished for every replica
//	Originals once that region answers again: the queued first copies;
//	ClaimOriginal takes one copy's cancel, won by exactly one replica
//
// The store is never on the critical path of serving: every call is bounded
// by a small timeout, a store whose calls fail three times in a row is
// marked down (calls then return ErrUnavailable without waiting) and Run
// pings it until it answers again. Document text never reaches the store in
// clear, nor any log.
//
// Which regions are down, and since when, each replica's regions keep
// beside their breakers (internal/region); rescue reads that clock through
// the Region interface and judges it against After (DueIn, JobDueIn).
package rescue
