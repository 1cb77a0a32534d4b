import { existsSync, writeFileSync } from 'node:fs'
import { ConfigError, loadConfig, loadDatabaseConfig } from '../config/load.ts'
import { unsharedLimitsWarning } from '../config/shared-database.ts'
import { startServer } from '../server.ts'
import { databaseUrlProblem, DatabaseOpenError } from '../storage/database.ts'
import { VERSION } from '../version.ts'
import { parseCliArgs, UsageError } from './args.ts'
import { firstRunBanner } from './banner.ts'
import { HELP } from './help.ts'
import { importCommand } from './import/index.ts'
import { createInput, keysCommand } from './keys.ts'
import { accountsCommand } from './accounts.ts'
import { STARTER_CONFIG } from './init-template.ts'
import { systemdUnit } from './service.ts'
import { LIMITS_FILE_ENV, runWorkers, WORKER_ENV, workerReady } from '../server/workers.ts'
import { resolve } from 'node:path'

type Out = { write(text: string): unknown }

/** Runs one command line; resolves to the exit code (serve resolves when the server has stopped). */
export async function runCli(argv: string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  let args
  try {
    args = parseCliArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    err.write(`sluice: ${e.message}\nRun "sluice --help" for usage.\n`)
    return 2
  }
  if (args.version) {
    out.write(`sluice ${VERSION}\n`)
    return 0
  }
  if (args.help) {
    out.write(HELP)
    return 0
  }
  try {
    switch (args.command) {
      case 'init':
        return init(args.overrides.config ?? 'sluice.yaml', args.force, out, err)
      case 'import':
        return importCommand(args.files, args.importing, args.force, out, err)
      case 'service': {
        // The unit names the config it will be given; its drain time sets how long systemd waits.
        const configPath = resolve(args.overrides.config ?? '/etc/sluice/sluice.yaml')
        let grace = 30_000
        try {
          if (existsSync(configPath)) grace = loadConfig({ config: configPath }).server.shutdown_grace_ms
        } catch {
          // an unreadable or invalid file: the default; `sluice check` says what is wrong with it
        }
        out.write(systemdUnit({ binary: process.execPath, config: configPath, envFile: '/etc/sluice/env', user: 'sluice', shutdownGraceMs: grace }))
        return 0
      }
      case 'keys':
        // Bad flag values are usage errors before any config or database is read.
        if (args.subcommand === 'create') createInput(args.key)
        return await keysCommand(loadDatabaseConfig(args.overrides), args.subcommand!, args.target, args.key, out, err, args.force)
      case 'accounts':
        return await accountsCommand(loadConfig(args.overrides), args.subcommand!, args.target, args.files, args.label, out, err)
      case 'check': {
        const config = loadConfig(args.overrides)
        // The URL and its directory, as serve would see them; the file itself is not opened.
        const problem = databaseUrlProblem(config.database.url)
        if (problem) {
          err.write(`sluice: ${problem}\n`)
          return 1
        }
        out.write(
          `${config.source ?? 'no config file'}: valid (${config.providers.length} provider(s): ${config.providers.map((p) => p.name).join(', ') || 'none'})\n`,
        )
        return 0
      }
      default:
        return await serve(args.overrides, err, argv)
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`sluice: ${e.message}\n`)
      return 1
    }
    if (e instanceof UsageError) {
      err.write(`sluice: ${e.message}\n`)
      return 2
    }
    if (e instanceof DatabaseOpenError) {
      err.write(`sluice: ${e.message}\n`)
      return 1
    }
    throw e
  }
}

function init(path: string, force: boolean, out: Out, err: Out): number {
  if (existsSync(path) && !force) {
    err.write(`sluice: ${path} exists; use --force to overwrite it\n`)
    return 1
  }
  writeFileSync(path, STARTER_CONFIG)
  out.write(`wrote ${path}; edit it, then run: sluice --config ${path}\n`)
  return 0
}

async function serve(overrides: Parameters<typeof loadConfig>[0], err: Out, argv: string[]): Promise<number> {
  const config = loadConfig(overrides)
  const workerIndex = process.env[WORKER_ENV]
  // Several workers: this process only starts and watches them.
  if (config.server.workers > 1 && workerIndex === undefined) {
    return runWorkers(config, argv, (line) => void err.write(line + '\n'), (url, created) => void err.write(firstRunBanner(url, created, config)))
  }
  const worker = workerIndex !== undefined ? { index: Number(workerIndex), limitsFile: process.env[LIMITS_FILE_ENV] ?? '' } : undefined
  let running
  try {
    running = await startServer(config, { reloadConfig: () => loadConfig(overrides), worker })
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'EADDRINUSE') {
      err.write(`sluice: cannot listen on ${config.server.host}:${config.server.port}: the port is in use\n`)
      return 1
    }
    if (e instanceof DatabaseOpenError || e instanceof ConfigError) throw e
    // Whatever else stops the start is one line, not a stack of bundled source.
    err.write(`sluice: could not start: ${String((e as Error)?.message ?? e).split('\n')[0]}\n`)
    return 1
  }
  // The primary printed the banner for its workers.
  if (!worker) err.write(firstRunBanner(running.url, running.created, config))
  else workerReady()
  const unshared = unsharedLimitsWarning(config)
  if (unshared) running.logger.warn({ setting: 'database.allow_unshared_limits' }, unshared)
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      running.logger.info({ signal }, 'signal received')
      void running.stop().then(resolve)
    }
    process.once('SIGTERM', () => onSignal('SIGTERM'))
    process.once('SIGINT', () => onSignal('SIGINT'))
    process.on('SIGHUP', () => {
      running.logger.info({ signal: 'SIGHUP' }, 'signal received: reloading the config')
      void running.reload()
    })
  })
  return 0
}
