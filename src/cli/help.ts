export const HELP = `sluice: one endpoint for every LLM provider and every API key you own.

Usage:
  sluice [serve] [options]      start the gateway (the default command)
  sluice check [--config FILE]  validate a config file and the database URL (its scheme and directory; the
                                file itself is opened only by serve); exit 0 when valid, 1 when not
  sluice init [--config FILE] [--force]   write a commented starter config (default ./sluice.yaml;
                                --force overwrites an existing one)
  sluice keys create --name N [key options]   create a client key and print it once (N must not
                                be the name of another key that is not revoked)
                   --key sk-...             bring an existing key instead (stored hashed, not printed)
  sluice keys list              list client keys (never the secrets); times in UTC, an expiry given
                                as a date shown as that date
  sluice keys revoke ID|NAME    revoke a client key; takes effect on a running server at once
  sluice import FILE... [--out FILE] [--env-out FILE] [--env] [--force]
                                turn the .env, .KEY and config.json files of another proxy into a
                                sluice config: YAML on stdout (or --out FILE); each line that could
                                not be brought over is named on stderr. Exit 0 when something was
                                imported, 1 when nothing could be
                   --env-out FILE           write the secrets to FILE as NAME=value, and \${NAME} in the YAML
                   --env                    the same, with the NAME=value lines on stdout (needs --out)
                   --force                  overwrite --out and --env-out files that exist
  sluice service install [--config FILE]
                                print a systemd unit for this binary (a dedicated user, the state
                                directory, hardening); see its first lines for how to install it
  sluice --version              print the version
  sluice --help                 print this help

Options:
  --config FILE       YAML or JSON config (env SLUICE_CONFIG; default ./sluice.yaml if present)
  --host HOST         listen address (env SLUICE_HOST; default 127.0.0.1)
  --port PORT         listen port (env SLUICE_PORT; default 8000)
  --db URL            database, file:PATH or a libSQL server URL (env SLUICE_DB; default file:./sluice.db)
  --log-level LEVEL   trace | debug | info | warn | error | fatal (env SLUICE_LOG_LEVEL; default info)
  A flag that is unknown or has a bad value is a usage error: exit 2.

Key options (keys create):
  --expires YYYY-MM-DD|DATETIME   the key works through that day (UTC), or until that moment; not
                                  one already past
  --models a,b                    allowed models: ids, aliases or patterns such as openai/*
  --ips 10.0.0.0/8,...            allowed client addresses
  --rpm N  --tpm N  --concurrency N
  --daily-tokens N  --daily-requests N  (or --monthly-tokens N  --monthly-requests N)
  --budget USD                    spending limit per quota period (monthly if none is given)
  --reset-time HH:MM  --timezone Europe/Berlin   when quota periods start (default 00:00 UTC)
  The keys commands work on the database of --db / --config / SLUICE_DB, also while a server runs.

Environment:
  SLUICE_ADMIN_TOKEN  admin token (otherwise generated on first start and printed once; a lost
                      one is replaced by starting with this set)
  OPENAI_API_KEY      with no providers configured, defines the provider "openai" (comma-separated keys)
  OPENAI_BASE_URL     its base URL (default https://api.openai.com/v1)
  ANTHROPIC_API_KEY   likewise, the provider "anthropic"
  ANTHROPIC_BASE_URL  its base URL (default https://api.anthropic.com)
  GEMINI_API_KEY      likewise, the provider "gemini" (or GOOGLE_API_KEY)
  GEMINI_BASE_URL     its base URL (default https://generativelanguage.googleapis.com)

Dashboard:
  http://HOST:PORT/dashboard    usage, request log, keys and providers; log in with the admin token
`
