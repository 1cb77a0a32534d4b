/**
 * `docker compose -f FILE config --quiet` with the compose plugin or the standalone docker-compose;
 * null when neither is installed (the caller says so and checks the file by its structure only).
 */
export function composeConfig(file: string, cwd: string, env: Record<string, string>): { exitCode: number; stderr: string } | null {
  const docker = Bun.which('docker')
  const plugin = docker && Bun.spawnSync([docker, 'compose', 'version'], { stdout: 'pipe', stderr: 'pipe' }).exitCode === 0
  const standalone = Bun.which('docker-compose')
  const cmd = plugin ? [docker!, 'compose'] : standalone ? [standalone] : null
  if (!cmd) return null
  const r = Bun.spawnSync([...cmd, '-f', file, 'config', '--quiet'], { cwd, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  return { exitCode: r.exitCode, stderr: r.stderr.toString() }
}
