import ipaddr from 'ipaddr.js';
import { DNS_SUBDOMAIN } from './schema';

/** A parsed CIDR block. */
export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Whether `text` is a plain IPv4 or IPv6 address (no prefix, no zone). */
export function isIp(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || (ipaddr.IPv6.isValid(text) && !text.includes('%'));
}

/** The family of an IP address; undefined for anything else (a DNS name). */
export function addressFamily(text: string): 'ipv4' | 'ipv6' | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return 'ipv4';
  return isIp(text) ? 'ipv6' : undefined;
}

/** Whether `text` is a DNS name K3s can put in a certificate. */
export function isDnsName(text: string): boolean {
  return text.length <= 253 && new RegExp(DNS_SUBDOMAIN).test(text);
}

/** Parses a comma-separated list of CIDRs (K3s takes dual-stack lists); undefined for any invalid entry. */
export function parseCidrList(text: string): Cidr[] | undefined {
  const blocks: Cidr[] = [];
  for (const part of text.split(',')) {
    const trimmed = part.trim();
    // ipaddr.js also takes shorthand IPv4 ("10/8"); K3s does not.
    if (!trimmed.includes(':') && !ipaddr.IPv4.isValidCIDRFourPartDecimal(trimmed)) return undefined;
    try {
      const [addr, bits] = ipaddr.parseCIDR(trimmed);
      // A block whose address has host bits set is almost always a typo.
      const network = ipaddr.parse(networkAddress(addr, bits));
      if (network.toString() !== addr.toString()) return undefined;
      blocks.push([addr, bits]);
    } catch {
      return undefined;
    }
  }
  return blocks;
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  return addr.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`).toString();
}

/** Whether an address lies in a block of the same family. */
export function cidrContains(block: Cidr, address: string): boolean {
  if (!isIp(address)) return false;
  const parsed = ipaddr.parse(address);
  return parsed.kind() === block[0].kind() && parsed.match(block);
}

/** Whether two blocks share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a[0].kind() !== b[0].kind()) return false;
  return a[0].match(b) || b[0].match(a);
}

/** The address as it stands in a URL host: IPv6 in brackets. */
export function urlHost(address: string): string {
  return ipaddr.IPv6.isValid(address) && !ipaddr.IPv4.isValidFourPartDecimal(address) ? `[${address}]` : address;
}
