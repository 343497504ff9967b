// Drives an Azure AI Language endpoint (the gateway, or one emulated region)
// with Azure's own JavaScript SDK, @azure/ai-language-text. Used by
// gateway/jssdk_test.go; it can also be run by hand:
//
//   GATEWAY_URL=http://127.0.0.1:8080 GATEWAY_KEY=demo-key PROJECT=demo \
//   DEPLOYMENT=production STEP=all node run.mjs
//
// Environment:
//   GATEWAY_URL, GATEWAY_KEY   endpoint and key the client is built with
//   PROJECT, DEPLOYMENT        the custom NER project and deployment
//   STEP                       analyze | cancel | all
//   DOCUMENTS                  optional JSON [{id, text, language}] to analyze
//   PAUSE_AFTER_SUBMIT=1       after each submit (beginAnalyzeBatch has sent
//                              the job and polled it once) print a
//                              {"event":"submitted",...} line and wait for a
//                              line on stdin before going on, so a test can
//                              change the regions between submit and poll
//   POLL_INTERVAL_MS           the poller's interval (default 100)
//   STRING_INDEX_TYPE          the action's stringIndexType (default Utf16CodeUnit)
//   MAX_RETRIES                the SDK's retries per request (default 0); the
//                              SDK's own default is 3, honouring Retry-After
//
// Output: JSON lines on stdout. Events ({"event":...}) may come first; the
// last line is the summary {"steps":{...},"requests":[...]}, where requests
// is every HTTP exchange the SDK made (method, url, status, headers, body).
// Any SDK error is printed on stderr and the exit status is 1.

import { createInterface } from "node:readline";
import { AzureKeyCredential } from "@azure/core-auth";
import { TextAnalysisClient } from "@azure/ai-language-text";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") {
    throw new Error(`environment variable ${name} is required`);
  }
  return v;
};

const endpoint = env("GATEWAY_URL");
const key = env("GATEWAY_KEY");
const projectName = env("PROJECT");
const deploymentName = env("DEPLOYMENT");
const step = env("STEP", "all");
const pause = process.env.PAUSE_AFTER_SUBMIT === "1";
const updateIntervalInMs = Number(env("POLL_INTERVAL_MS", "100"));

// Non-ASCII on purpose: ö, ã, an em dash and an emoji (two UTF-16 code
// units, one text element) before entities, so UTF-16 offsets differ from
// byte, code-point and text-element offsets.
const defaultDocuments = [
  { id: "1", language: "en", text: "Contoso signs the lease in Köln." },
  { id: "2", language: "en", text: "Fabrikam and Contoso meet in São Paulo." },
  { id: "3", language: "en", text: "🙂 Fabrikam verklagt Contoso in Köln, nicht in São Paulo." },
  { id: "4", language: "en", text: "Nothing to find here." },
  { id: "5", language: "en", text: "Köln — Contoso — Köln." },
];
const documents = process.env.DOCUMENTS ? JSON.parse(process.env.DOCUMENTS) : defaultDocuments;

// Every exchange the SDK makes, recorded by a pipeline policy so the test
// sees which URLs the SDK followed and can scan what it was answered.
const requests = [];
const recorder = {
  name: "nergatewayRecorder",
  async sendRequest(request, next) {
    const entry = { method: request.method, url: request.url };
    if (typeof request.body === "string") entry.requestBody = request.body;
    requests.push(entry);
    try {
      const response = await next(request);
      entry.status = response.status;
      entry.headers = response.headers.toJSON();
      entry.body = response.bodyAsText ?? "";
      return response;
    } catch (e) {
      entry.error = String(e?.message ?? e);
      throw e;
    }
  },
};

const client = new TextAnalysisClient(endpoint, new AzureKeyCredential(key), {
  // The gateway under test is plain http on loopback.
  allowInsecureConnection: true,
  serviceVersion: "2023-04-01",
  additionalPolicies: [{ policy: recorder, position: "perRetry" }],
  // Retries would hide a gateway answer the SDK did not like; the rescue
  // test turns them on as an application would have them (503 with
  // Retry-After while the job's region is down).
  retryOptions: { maxRetries: Number(env("MAX_RETRIES", "0")) },
});

// The SDK sends no stringIndexType unless told (its mapper's default is not
// serialized), so the service would count TextElements_v8; ask for UTF-16
// code units so offsets index JavaScript strings.
const stringIndexType = env("STRING_INDEX_TYPE", "Utf16CodeUnit");
const actions = [{ kind: "CustomEntityRecognition", projectName, deploymentName, stringIndexType, actionName: "ner" }];

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const stdinLines = pause ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : null;

async function afterSubmit(stepName, poller) {
  if (!pause) return;
  const st = poller.getOperationState();
  emit({ event: "submitted", step: stepName, jobId: st.id, status: st.status });
  const { done } = await stdinLines.next();
  if (done) throw new Error("stdin closed while waiting to go on after the submit");
}

// lastJobStatus is the service's own status word from the last job GET.
function lastJobStatus() {
  for (let i = requests.length - 1; i >= 0; i--) {
    const r = requests[i];
    if (r.method === "GET" && r.status === 200 && r.body) {
      try {
        return JSON.parse(r.body).status;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

async function analyze() {
  const poller = await client.beginAnalyzeBatch(actions, documents, "en", {
    displayName: "jssdk analyze",
    updateIntervalInMs,
  });
  await afterSubmit("analyze", poller);
  const results = await poller.pollUntilDone();
  const state = poller.getOperationState();
  const out = {
    jobId: state.id,
    operationStatus: state.status,
    serviceStatus: lastJobStatus(),
    pages: 0,
    pageSizes: [],
    actions: [],
    documents: {},
  };
  for await (const page of results.byPage({ maxPageSize: 2 })) {
    out.pages++;
    let docsInPage = 0;
    for (const action of page) {
      out.actions.push({ kind: action.kind, actionName: action.actionName, error: action.error ?? null });
      if (action.error) {
        throw new Error(`action ${action.actionName} failed: ${JSON.stringify(action.error)}`);
      }
      for (const doc of action.results) {
        docsInPage++;
        if (doc.error) {
          throw new Error(`document ${doc.id} failed: ${JSON.stringify(doc.error)}`);
        }
        if (out.documents[doc.id]) {
          throw new Error(`document ${doc.id} seen on two pages`);
        }
        const text = documents.find((d) => d.id === doc.id)?.text ?? "";
        out.documents[doc.id] = doc.entities.map((e) => ({
          text: e.text,
          category: e.category,
          offset: e.offset,
          length: e.length,
          confidenceScore: e.confidenceScore,
          // What the offset and length point at in the JS (UTF-16) string.
          textAtOffset: text.substr(e.offset, e.length),
        }));
      }
    }
    out.pageSizes.push(docsInPage);
  }
  return out;
}

async function cancel() {
  const poller = await client.beginAnalyzeBatch(actions, documents, "en", {
    displayName: "jssdk cancel",
    updateIntervalInMs,
  });
  await afterSubmit("cancel", poller);
  const before = poller.getOperationState();
  const out = { jobId: before.id, statusBeforeCancel: before.status };
  await poller.sendCancellationRequest();
  try {
    await poller.pollUntilDone();
    out.pollError = null;
  } catch (e) {
    // core-lro rejects with "Operation was canceled" once the job is cancelled.
    out.pollError = String(e?.message ?? e);
  }
  out.operationStatus = poller.getOperationState().status;
  out.serviceStatus = lastJobStatus();
  if (out.operationStatus !== "canceled") {
    throw new Error(`cancelled job ended ${out.operationStatus} (${out.pollError})`);
  }
  return out;
}

const steps = {};
try {
  if (step === "analyze" || step === "all") steps.analyze = await analyze();
  if (step === "cancel" || step === "all") steps.cancel = await cancel();
  if (!steps.analyze && !steps.cancel) throw new Error(`unknown STEP ${step}: analyze, cancel or all`);
} catch (e) {
  console.error("SDK error:", e?.name ?? "", e?.code ?? "", e?.statusCode ?? "", e?.message ?? e);
  if (e?.stack) console.error(e.stack);
  console.error("requests so far:", JSON.stringify(requests.map(({ method, url, status, error }) => ({ method, url, status, error }))));
  process.exitCode = 1;
}
emit({ steps, requests });
process.stdin.pause();
if (stdinLines) stdinLines.return?.();
