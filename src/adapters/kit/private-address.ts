import { ipMatcher, parseAddress } from '../../lib/cidr.ts'

// Ranges an adapter must not reach unless the operator allows it: this host, the private networks
// behind it, and the cloud metadata endpoints that hand out credentials. Reserved and
// documentation ranges are in too: nothing legitimate lives there and refusing them costs nothing.
const BLOCKED_V4 = ipMatcher([
  '0.0.0.0/8', // "this network"; 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT; Alibaba's metadata service is 100.100.100.200
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local; AWS, GCP, Azure and OpenStack metadata is 169.254.169.254
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments (Oracle Cloud metadata: 192.0.0.192)
  '192.0.2.0/24',
  '192.88.99.0/24', // 6to4 relay anycast
  '192.168.0.0/16',
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the broadcast address
  '168.63.129.16/32', // Azure's host endpoint: a public address that only answers from inside Azure
])

const BLOCKED_V6 = ipMatcher([
  '::/96', // unspecified, loopback (::1) and the deprecated IPv4-compatible form (::127.0.0.1)
  '100::/64', // discard-only
  '2001::/32', // Teredo: tunnels to an IPv4 address hidden in the host bits
  '2001:db8::/32', // documentation
  '64:ff9b:1::/48', // local-use NAT64
  'fc00::/7', // unique local (AWS's IPv6 metadata endpoint is fd00:ec2::254)
  'fec0::/10', // deprecated site-local
  'fe80::/10', // link-local
  'ff00::/8', // multicast
])

const NAT64 = 0x0064_ff9b_0000_0000_0000_0000n // 64:ff9b::/96, the well-known NAT64 prefix
const SIX_TO_FOUR = 0x2002n // 2002::/16

function v4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

/**
 * Whether an IP address (v4 or v6, `[...]` brackets and a `%zone` allowed) is one an adapter may
 * not reach by default. IPv4-mapped addresses (`::ffff:127.0.0.1`) count as the IPv4 address, and
 * so do the IPv4 addresses that NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed. Text that is not
 * an address counts as private: the check fails closed.
 */
export function isPrivateAddress(ip: string): boolean {
  const text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip
  const address = parseAddress(text)
  if (!address) return true
  if (!address.v6) return BLOCKED_V4(v4Text(address.value))
  if (BLOCKED_V6(text)) return true
  const value = address.value
  if (value >> 32n === NAT64) return BLOCKED_V4(v4Text(value & 0xffffffffn))
  if (value >> 112n === SIX_TO_FOUR) return BLOCKED_V4(v4Text((value >> 80n) & 0xffffffffn))
  return false
}
