// Package replication keeps custom NER projects of a primary Azure AI
// Language resource trained and deployed in a secondary one, so that the
// gateway has somewhere to fail over to. It automates Microsoft's runbook
// "Back up and recover your custom NER models": check whether the copies
// drifted, and when they did, export, import, train and deploy.
//
// # When it acts
//
// A check reads the project and its deployments in both regions (GETs only,
// which cost nothing), then runs the canary (two small analyze-text jobs per
// deployment). The secondary is out of date when
//
//   - it lacks the project,
//   - the primary project's labels changed: its lastModifiedDateTime moved
//     (newer than the secondary's, or not the one whose content the
//     secondary is known to hold) and the canonical hash of its exported
//     assets differs from the secondary's, or
//   - a primary deployment's mapped secondary deployment is missing, or the
//     primary one was trained or deployed after it.
//
// Azure moves lastModifiedDateTime without a label edit (after a deploy),
// so a moved date only starts a comparison: the primary is exported and
// its assets hashed; the secondary's hash is the one this process imported
// or compared last, or, without that memory, the hash of the secondary's
// own export. Equal hashes import and train nothing.
//
// Only then do POSTs and PUTs follow, and only those the drift needs: a
// project change exports, imports, and then trains and deploys every
// deployment (an import replaces the project, models included); a
// retrain or redeploy alone trains and deploys just the drifted deployments.
// Training is billed, so an in-sync check never trains.
//
// # Byte for byte
//
// The exported file is imported as downloaded, except metadata.projectName
// and metadata.storageInputContainerName, rewritten in place: nothing is
// decoded and encoded again. Only the project kinds in SupportedKinds are
// replicated; another kind is refused at its first check, before anything
// is written.
//
// # What it never does
//
// It never deletes or undeploys anything in the secondary: a failed
// training leaves the previous deployment serving. It never imports a
// half-read export: every primary read must succeed before the secondary
// is written, so a primary outage pauses replication.
//
// # Storage
//
// An import refers to documents by their location in the secondary's
// storage container, and training reads them there. With Config.Documents
// (package docsync) every document the export names is made present there
// with the primary's content before anything is imported or trained:
// copied (DOCUMENT_SYNC=copy) or only verified (verify, which fails the run
// with DocumentsMissing and trains nothing). Without it the operator keeps
// the containers equal (Azure Storage object replication), and a missing
// document shows up as a failed training.
//
// # The canary
//
// Equal timestamps do not show that the secondary serves the same model. On
// every check whose drift needs no re-import, and after every run, the
// same few documents are analysed by each primary deployment and its
// secondary counterpart and their entities compared (category, offset,
// length). Agreement below Config.CanaryMinAgreement makes the project
// diverged, and the next run copies it again.
//
// # Concurrency
//
// Run owns every goroutine it starts and stops them when its context ends.
// A project never has two runs at once: a trigger while one is running is
// remembered and served by one more run when it ends. At most
// Config.MaxConcurrentProjects projects replicate at the same time, and
// authoring POST/PUTs are paced per region to Azure's limit.
package replication
