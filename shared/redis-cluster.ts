// Redis Cluster addressing: the URL that names a cluster, and the hash slot of a key.

export interface ClusterNode {
  host: string;
  port: number;
}

/**
 * Parses `redis+cluster://[:password@]host:port[,host:port…]`: the seed nodes (any of the
 * cluster's nodes; the rest are found from them) and the password. Null for any other URL.
 */
export function parseClusterUrl(url: string): { seeds: ClusterNode[]; password: string | undefined } | null {
  const match = /^redis\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/.exec(url);
  if (!match) return null;
  const userinfo = match[1];
  let password: string | undefined;
  try {
    password = userinfo ? decodeURIComponent(userinfo.slice(userinfo.indexOf(':') + 1)) || undefined : undefined;
  } catch {
    return null; // a malformed %-escape
  }
  const seeds: ClusterNode[] = [];
  for (const part of match[2]!.split(',')) {
    const node = /^([^:,]+):(\d{1,5})$/.exec(part.trim());
    if (!node || Number(node[2]) < 1 || Number(node[2]) > 65_535) return null;
    seeds.push({ host: node[1]!, port: Number(node[2]) });
  }
  return seeds.length > 0 ? { seeds, password } : null;
}

export const SLOT_COUNT = 16_384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The hash slot of a key or shard channel: CRC16 (XMODEM) of the key, or of its hash tag
 * (the part between the first `{` and the next `}`, when not empty), mod 16384.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(bytes) % SLOT_COUNT;
}
