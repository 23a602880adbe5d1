/** Is this host reachable only from this machine (127.0.0.0/8, ::1, localhost)? Accepts `[::1]` as URLs write it. Pure. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
