import { readFileSync } from 'node:fs'

const TICK_MS = 10 // CLK_TCK is 100 on Linux

/** CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}

/** Resident memory now, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** Samples a process's resident memory while `during` runs; returns the peak. */
export async function peakRss<T>(pid: number, during: Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = rssBytes(pid)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid))
    } catch {}
  }, 25)
  try {
    return { result: await during, peak: Math.max(peak, rssBytes(pid)) }
  } finally {
    clearInterval(timer)
  }
}

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const mem = readFileSync('/proc/meminfo', 'utf8')
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    memory_gib: Math.round(Number(/MemTotal:\s+(\d+)/.exec(mem)?.[1] ?? 0) / 1024 / 1024),
    bun: Bun.version,
  }
}
