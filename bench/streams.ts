// Stream load client, run as its own process: opens streams and times them. Bounded by count and
// by a deadline. Prints JSON: time to first byte and total time per stream (ms), errors.
const [url, key, model, concurrencyArg, totalArg, deadlineArg] = process.argv.slice(2)
const concurrency = Number(concurrencyArg)
const total = Number(totalArg)
const deadline = Date.now() + Number(deadlineArg ?? 60_000)
// A Responses URL gets a Responses body; its stream ends with response.completed instead of [DONE].
const responses = url!.endsWith('/responses')
const body = JSON.stringify(responses ? { model, stream: true, input: 'Say something.' } : { model, stream: true, messages: [{ role: 'user', content: 'Say something.' }] })
const ending = responses ? 'response.completed' : '[DONE]'
// One extra header (`name: value`) when the target needs it, as the Portkey peer does.
const extra = /^([^:]+):\s*(.*)$/.exec(process.env.STREAM_HEADER ?? '')
const headers: Record<string, string> = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
if (extra) headers[extra[1]!] = extra[2]!
const ttfb: number[] = []
const totalMs: number[] = []
let errors = 0
let started = 0

async function one(): Promise<void> {
  const t0 = performance.now()
  try {
    const res = await fetch(url!, { method: 'POST', headers, body })
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
    const reader = res.body.getReader()
    let first = true
    let text = ''
    const decoder = new TextDecoder()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (first) {
        ttfb.push(performance.now() - t0)
        first = false
      }
      text += decoder.decode(value, { stream: true })
    }
    if (!text.includes(ending)) throw new Error('stream ended early')
    totalMs.push(performance.now() - t0)
  } catch {
    errors++
  }
}

async function worker(): Promise<void> {
  while (started < total && Date.now() < deadline) {
    started++
    await one()
  }
}

await Promise.all(Array.from({ length: concurrency }, worker))
console.log(JSON.stringify({ ttfb, total: totalMs, errors, started }))
export {}
