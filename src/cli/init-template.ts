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

admin:
  # Token for the admin API. Unset: one is generated on first start and printed once.
  token: \${SLUICE_ADMIN_TOKEN:-}

database:
  url: file:./sluice.db    # or a libSQL server: libsql://host:port (with auth_token)

log:
  level: info              # trace | debug | info | warn | error | fatal

auth:
  required: true           # false lets anyone use the gateway without a client key
  # Static client keys, alongside the ones created with the admin API or the CLI.
  # keys:
  #   - name: laptop
  #     key: \${LAPTOP_KEY}

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
    base_url: https://api.openai.com/v1
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
`
