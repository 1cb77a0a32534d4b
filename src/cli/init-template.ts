/** The commented starter config that `sluice init` writes. */
export const STARTER_CONFIG = `# sluice configuration. Every field is optional; the values shown are the defaults.
# \${VAR} reads an environment variable (start-up fails if it is unset);
# \${VAR:-fallback} gives a default. Keep secrets in the environment, not in this file.
# Precedence: defaults < this file < SLUICE_* environment variables < command-line flags.

server:
  host: 127.0.0.1          # 0.0.0.0 to accept connections from other machines
  port: 8000
  max_body_bytes: 33554432 # 32 MiB; larger requests get a 413
  shutdown_grace_ms: 30000 # on SIGTERM, how long in-flight requests and streams may finish
  # trusted_proxies: [127.0.0.1]   # reverse proxies whose X-Forwarded-For is believed

admin:
  # Token for the admin API and the dashboard (/dashboard). Unset: one is generated on first
  # start and printed once.
  token: \${SLUICE_ADMIN_TOKEN:-}
  docs: false              # true serves the admin API's OpenAPI description at /admin/docs

database:
  url: file:./sluice.db    # or a libSQL server: libsql://host:port (with auth_token)

log:
  level: info              # trace | debug | info | warn | error | fatal

auth:
  required: true           # false lets anyone use the gateway without a client key
  # Static client keys, alongside the ones created with the admin API or with "sluice keys create".
  # keys:
  #   - name: laptop
  #     key: \${LAPTOP_KEY}
  #     expires_at: 2026-12-31        # through that day (UTC)
  #     models: [openai/*, smart]     # ids, aliases or patterns
  #     ips: [10.0.0.0/8]
  #     rpm: 60
  #     tpm: 100000
  #     max_concurrent: 4
  #     quota: { period: day, tokens: 2000000, requests: 5000, budget_usd: 20, reset_time: "00:00", timezone: UTC }

# limits: { ip_rpm: 600 }   # per client address, before authentication (off by default)

# USD per million tokens, for budgets and the cost in the request log and on the dashboard.
# prices:
#   openai/gpt-4o: { prompt: 2.5, completion: 10, cached_prompt: 1.25 }

# logging:
#   bodies: none            # none | errors | all: keep request and response bodies (scrubbed)
#   sample_rate: 1
#   max_body_bytes: 16384
#   retention_days: 30      # raw request rows; daily and hourly aggregates are kept
# metrics: { public: false }  # /metrics needs the admin token unless true

# retry: { max_attempts: 3, initial_delay_ms: 200, max_delay_ms: 5000 }
# circuit_breaker: { failure_threshold: 5, open_ms: 30000 }
# routing: { heartbeat_ms: 15000, sticky_ttl_ms: 3600000 }

timeouts:                  # per provider too, under providers[].timeouts
  connect_ms: 10000        # establishing the connection
  first_byte_ms: 600000    # until the first byte of the answer
  stream_idle_ms: 120000   # silence between two events of a stream
  total_ms: 1800000        # the whole request

providers:
  # Models are addressed as <provider name>/<model>, or by the bare model id when only one
  # provider serves it. Without providers here, OPENAI_API_KEY defines a provider "openai".
  - name: openai
    type: openai           # any OpenAI-compatible API
    base_url: \${OPENAI_BASE_URL:-https://api.openai.com/v1}   # what the environment says, as without this file
    keys: [\${OPENAI_API_KEY}]
    # models: [gpt-4o, gpt-4o-mini]   # omitted: discovered from the upstream's GET /models
  # - name: deepseek
  #   type: openai
  #   base_url: https://api.deepseek.com/v1
  #   keys: [\${DS_KEY_1}, \${DS_KEY_2}]
  #   models: [deepseek-chat, deepseek-reasoner]
  #   headers: { x-extra: value }
  # - name: ollama
  #   type: openai
  #   base_url: http://127.0.0.1:11434/v1
  #   keys: [ollama]
  #   fake_stream: true     # ask without streaming, replay the answer as a stream
  # - name: anthropic
  #   type: anthropic       # base_url without /v1
  #   keys: [\${ANTHROPIC_API_KEY}]
  #   default_max_tokens: 4096   # for OpenAI clients that send no max_tokens
  #   sticky: true          # keep a conversation on one key, for prompt caching

# aliases:                  # names clients can ask for; targets are tried by the strategy
#   - name: smart
#     targets: [openai/gpt-4o, deepseek/deepseek-chat]
#     strategy: fallback    # or round-robin, weighted (with weights: [3, 1]), least-latency
`
