/** IPv4/IPv6 addresses and CIDR ranges, for allowlists and trusted proxies. */

function parseV4(ip: string): bigint | null {
  const parts = ip.split('.')
  if (parts.length !== 4) return null
  let n = 0n
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    n = (n << 8n) | BigInt(Number(p))
  }
  return n
}

function parseV6(ip: string): bigint | null {
  const zone = ip.indexOf('%')
  if (zone >= 0) ip = ip.slice(0, zone)
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip)
  if (v4) {
    const n = parseV4(v4[1]!)
    if (n === null) return null
    ip = ip.slice(0, -v4[1]!.length) + ((n >> 16n) & 0xffffn).toString(16) + ':' + (n & 0xffffn).toString(16)
  }
  const halves = ip.split('::')
  if (halves.length > 2) return null
  const head = halves[0] ? halves[0].split(':') : []
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  let n = 0n
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null
    n = (n << 16n) | BigInt(parseInt(g, 16))
  }
  return n
}

export interface Address {
  v6: boolean
  value: bigint
}

/** Parses an address; IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address. */
export function parseAddress(ip: string): Address | null {
  const v4 = parseV4(ip)
  if (v4 !== null) return { v6: false, value: v4 }
  const v6 = parseV6(ip)
  if (v6 === null) return null
  if (v6 >> 32n === 0xffffn) return { v6: false, value: v6 & 0xffffffffn }
  return { v6: true, value: v6 }
}

export interface Cidr {
  v6: boolean
  base: bigint
  bits: number
}

export function parseCidr(text: string): Cidr | null {
  const [ip, len] = text.split('/')
  const address = parseAddress(ip!.trim())
  if (!address) return null
  const max = address.v6 ? 128 : 32
  const bits = len === undefined ? max : Number(len)
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return null
  const shift = BigInt(max - bits)
  return { v6: address.v6, base: (address.value >> shift) << shift, bits }
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const address = parseAddress(ip)
  if (!address || address.v6 !== cidr.v6) return false
  const shift = BigInt((cidr.v6 ? 128 : 32) - cidr.bits)
  return address.value >> shift === cidr.base >> shift
}

/** A matcher for a list of IPs/CIDRs. */
export function ipMatcher(list: readonly string[]): (ip: string) => boolean {
  const cidrs = list.map(parseCidr).filter((c): c is Cidr => c !== null)
  return (ip) => cidrs.some((c) => cidrContains(c, ip))
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

/**
 * What per-address limits count by: an IPv4 address, or the /64 network of an IPv6 address (one
 * subscriber usually holds a whole /64, so rotating within it must not reset the count). Text that
 * is not an address is counted as itself.
 */
export function addressUnit(ip: string): string {
  if (!ip.includes(':')) return ip
  const address = parseAddress(ip)
  if (!address) return ip
  if (!address.v6) return formatV4(address.value)
  const hex = (address.value >> 64n).toString(16).padStart(16, '0')
  return `${hex.slice(0, 4)}:${hex.slice(4, 8)}:${hex.slice(8, 12)}:${hex.slice(12)}::/64`
}
