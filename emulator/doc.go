// Package emulator is one Azure AI Language region in process: the runtime
// and authoring calls of custom NER (docs/azure-language-api.md),
// with fault injection and call counting for tests, the demo and compose.
//
// Use New for an http.Handler, NewServer for a region on 127.0.0.1 (like
// httptest.Server), or cmd/emulator for a binary. Every request except the
// admin API needs the region's key in Ocp-Apim-Subscription-Key (else 401
// in the front-door shape) and an api-version (2022-05-01, 2023-04-01,
// 2024-11-01 or any preview; else 400). A region with Options.BearerTokens
// is a resource with key auth disabled: it takes "Authorization: Bearer
// <token>" instead, such as the tokens a TokenIssuer (Microsoft Entra ID's
// stand-in) issues, and refuses a key.
//
// # Behaviour
//
// Job states come from the Clock: a runtime job is notStarted for the first
// third of Options.JobDuration, running until its end, then succeeded (or
// failed); authoring jobs likewise with AuthoringJobDuration, and what they
// do (import the project, add the model, deploy) happens when they succeed.
// A cancelled job shows cancelling for a third of the duration, then
// cancelled. Runtime jobs expire 24 h after creation, authoring jobs after
// 7 days (404 afterwards). There are no background goroutines.
//
// Answers follow Microsoft's recordings of live Azure traffic
// (internal/testkit/recorded; recorded_test.go replays them here): a job's tasks
// finish one after another across its running phase, so a job with several
// tasks shows finished tasks, their first page and a nextLink while it
// still runs; tasks.items is [] while none has finished; a page holds top
// documents (at most Options.PageSize) and its nextLink, in Azure's shape
// (?showStats=False&top=N&skip=M&api-version=V), asks for as many again, at
// most the documents left; the job's date is lastUpdateDateTime on
// 2022-10-01-preview and lastUpdatedDateTime on every other api-version;
// job and project dates are whole seconds (except a project's
// lastModifiedDateTime, see project.body), task and training times have
// seven fractional digits; answers carry x-ms-region,
// x-envoy-upstream-service-time and Strict-Transport-Security, authoring
// answers request-id too; 400s and 401s carry no x-ms-error-code.
//
// Training reads the project's labelled documents from the region's storage
// container (metadata.storageInputContainerName; fill it with PutDocument,
// Seed or the admin API) and fails when one is missing. That storage is in
// memory, or real blob storage (Options.Documents; cmd/emulator's
// -storage-url), so a secondary trains only on what its container holds.
// The trained model is
// a dictionary of the labelled spans (each exact text with its most frequent
// category); a deployed model reports every occurrence of those texts in a
// job's documents, leftmost-longest, without overlaps, on word boundaries,
// with confidenceScore 1. Offsets and lengths follow the task's
// stringIndexType: Utf16CodeUnit, UnicodeCodePoint, or TextElements_v8 (the
// default), which is approximated: a code point starts a new element unless
// it is a combining mark, a zero-width joiner or follows one, a variation
// selector, an emoji modifier or tag, the LF of CR LF, or the second
// regional indicator of a flag.
//
// The emulator is strict where a lenient double would hide client bugs:
// export needs ?stringIndexType=Utf16CodeUnit (the spec makes it
// required); import needs projectFileVersion, stringIndexType
// Utf16CodeUnit, and metadata with projectKind CustomEntityRecognition,
// storageInputContainerName, language and a projectName equal to the one in
// the path; request bodies above 8 MiB get 413. Import keeps the members it
// does not know, so export gives back what import received. An import
// replaces the project's metadata and labels but keeps its models and
// deployments.
//
// A custom NER task naming an unknown project or deployment is accepted
// (202) and the job fails: status failed, the task item failed, and the
// job's errors carry ProjectNotFound or NotFound. The reference lists no
// 404 for submit, so the emulator does not invent one.
//
// The synchronous POST /language/:analyze-text answers the prebuilt kinds
// (EntityRecognition, PiiEntityRecognition, KeyPhraseExtraction,
// LanguageDetection, SentimentAnalysis, EntityLinking) with simple,
// deterministic results; the same kinds work as async tasks. Custom kinds
// get 400 there.
//
// # Route names
//
// Calls, Fault.Routes and the logs name routes as follows (A is
// /language/authoring/analyze-text/projects):
//
//	submit                  POST   /language/analyze-text/jobs
//	job                     GET    /language/analyze-text/jobs/{jobId}
//	cancel                  POST   /language/analyze-text/jobs/{jobId}:cancel
//	analyze                 POST   /language/:analyze-text
//	listProjects            GET    A
//	getProject              GET    A/{p}
//	patchProject            PATCH  A/{p}
//	deleteProject           DELETE A/{p}
//	deletionJob             GET    A/global/deletion-jobs/{jobId}
//	trainingConfigVersions  GET    A/global/training-config-versions
//	export                  POST   A/{p}/:export
//	exportJob               GET    A/{p}/export/jobs/{jobId}
//	exportResult            GET    A/{p}/export/jobs/{jobId}/result
//	import                  POST   A/{p}/:import
//	importJob               GET    A/{p}/import/jobs/{jobId}
//	train                   POST   A/{p}/:train
//	listTrainJobs           GET    A/{p}/train/jobs
//	trainJob                GET    A/{p}/train/jobs/{jobId}
//	cancelTrainJob          POST   A/{p}/train/jobs/{jobId}/:cancel
//	listDeployments         GET    A/{p}/deployments
//	getDeployment           GET    A/{p}/deployments/{d}
//	deploy                  PUT    A/{p}/deployments/{d}
//	deleteDeployment        DELETE A/{p}/deployments/{d}
//	deployJob               GET    A/{p}/deployments/{d}/jobs/{jobId}  (deploy and delete)
//	swap                    POST   A/{p}/deployments/:swap
//	swapJob                 GET    A/{p}/deployments/swap/jobs/{jobId}
//	listModels              GET    A/{p}/models
//	getModel                GET    A/{p}/models/{m}
//	deleteModel             DELETE A/{p}/models/{m}
//	evaluationSummary       GET    A/{p}/models/{m}/evaluation/summary-result
//	evaluationResult        GET    A/{p}/models/{m}/evaluation/result
//	loadSnapshot            POST   A/{p}/models/{m}/:load-snapshot
//	loadSnapshotJob         GET    A/{p}/models/{m}/load-snapshot/jobs/{jobId}
//	unknown                 anything else (404 in the front-door shape)
//
// A request is counted before faults and the key check, so faulted and
// unauthorized requests count too; admin requests are not counted.
//
// # Admin API
//
// Test-only endpoints under /_emulator/ need no key, are never faulted and
// are served on the region's address and, for a Server, also on AdminURL
// (which stays up while the region refuses connections):
//
//	PUT    /_emulator/storage/{container}/{name}  body = the document's text (204)
//	GET    /_emulator/storage/{container}/{name}  the text, or 404
//	POST   /_emulator/faults                      body = a Fault as JSON; adds it (200, the faults in force)
//	GET    /_emulator/faults                      the faults in force
//	DELETE /_emulator/faults                      clears every fault (204)
//	GET    /_emulator/calls                       {"route": count, ...}
//	DELETE /_emulator/calls                       resets the counts (204)
//	GET    /_emulator/jobs/cancels                {"jobId": cancels accepted, ...} for every runtime job
//	POST   /_emulator/clock/advance?d=5s          moves a ManualClock (409 on real time)
//	POST   /_emulator/seed                        body = a SeedProject as JSON; Seed (204)
//
// For example, to take a region down and bring it back:
//
//	curl -X POST localhost:5001/_emulator/faults -d '{"down":"reset"}'
//	curl -X DELETE localhost:5001/_emulator/faults
//
// # Not emulated
//
// Entra ID's token validation (a region with BearerTokens accepts the
// opaque tokens its TokenIssuer issued, not signed JWTs); the per-document
// and per-request limits other than 25 documents and 125,000 characters;
// the 500-project, 10-model and 10-deployment quotas; import
// failing on a missing storage container (training fails instead); the
// export options assetKind and trainedModelLabel (the whole project is
// exported); per-document evaluation results (an empty list); the
// Train/Test split (every labelled document trains the dictionary); and
// prebuilt tasks beyond their response shape. Error messages are plausible,
// not Azure's exact text, which the reference marks UNVERIFIED.
package emulator
