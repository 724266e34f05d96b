// A Redis Cluster given as one URL: `redis+cluster://[:password@]host:port[,host:port…]`.

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
