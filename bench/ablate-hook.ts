// Preloaded into the gateway by bench/ablate.ts: ABLATE names the part of the per-request record
// to take out, by replacing its module with a stub at load time.
//   write the process log's writes to stdout (its lines are still built)
//   row   the request-log write (the row is still built and queued; the SQLite work is skipped)
//   sink  everything after the response: log line, metrics and request-log row
import { plugin } from 'bun'

const STUBS: Record<string, { filter: RegExp; contents: string }> = {
  write: {
    filter: /src\/observability\/line-sink\.ts$/,
    contents: 'export function createLineSink() { return { write() {}, flush() {}, flushSync() {}, end() {} } }',
  },
  row: {
    filter: /src\/storage\/request-log-file\.ts$/,
    contents: 'export function openLogFile() { return { write() {}, close() {} } }',
  },
  sink: {
    filter: /src\/request-sink\.ts$/,
    contents: 'export function createRequestSink() { return () => {} }\nexport function usageWithSource() { return { usage: undefined, source: "missing" } }',
  },
}

const stub = STUBS[process.env.ABLATE ?? '']
if (stub) {
  plugin({
    name: `ablate-${process.env.ABLATE}`,
    setup(build) {
      build.onLoad({ filter: stub.filter }, () => ({ contents: stub.contents, loader: 'ts' }))
    },
  })
}
