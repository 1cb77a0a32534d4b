import { CLIENT_KEY } from './gateway.ts'

/** A chat request over plain fetch, for tests that look at statuses and headers. */
export function chat(baseURL: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  })
}

export function admin(url: string, token: string, path: string, method = 'GET'): Promise<Response> {
  return fetch(`${url}/admin/api${path}`, { method, headers: { authorization: `Bearer ${token}` } })
}
