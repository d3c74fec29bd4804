/**
 * Secrets out of text that is printed: logs, error messages, `--verbose` stack traces. Every credential form the
 * services and the CLI are given is recognised — a URL's password (`postgres://u:pass@`, `redis://:pass@`),
 * password and token parameters (`?password=`, `&token=`, libpq's `password=…`), bearer tokens and JWTs, and NATS
 * NKEY seeds (also inside a creds file) — and replaced by `***`, keeping the rest readable.
 */
const RULES: [RegExp, string][] = [
  // scheme://user:password@ and scheme://:password@ (the user name stays: it says who connected).
  [/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi, '$1***@'],
  // ?password=… &token=… in URLs and query strings.
  [
    /([?&;](?:password|passwd|pass|pwd|token|secret|access_token|api_key|apikey|auth|sslpassword)=)[^&\s;#]+/gi,
    '$1***',
  ],
  // key=value settings (libpq connection strings, env dumps): password=… PASSWORD=… token: …
  [
    /\b((?:[A-Z0-9_]*_)?(?:password|passwd|pwd|token|secret|api_key|apikey)\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s,;&'"}]+)/gi,
    '$1***',
  ],
  // JSON: "password": "…", "NATS_TOKEN": "…"
  [
    /("(?:[A-Za-z0-9_]*_)?(?:password|passwd|pwd|token|secret|api_key|apikey)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
    '$1"***"',
  ],
  [/\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1***'],
  // JWTs (NATS user JWTs among them): three base64url parts, the first a JSON header.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '***'],
  // NKEY seeds: S, a type prefix (user, account, operator, cluster, server), 56 base32 characters.
  [/\bS[UAONCX][A-Z2-7]{56}\b/g, 'S***'],
];

/** Field names whose values are secrets whatever they look like: `password`, `NATS_TOKEN`, `apiKey`, … */
const SECRET_KEY = /(?:^|_|[a-z])(?:password|passwd|pwd|token|secret|api_?key|seed|credentials?)$/i;

/** `text` with every credential replaced by `***`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  return out;
}

/** A copy of `value` with every string in it (keys of objects kept) redacted; errors become their message and stack. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error)
    return {
      type: value.name,
      message: redactSecrets(value.message),
      ...(value.stack === undefined ? {} : { stack: redactSecrets(value.stack) }),
    };
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) && typeof v === 'string' && v !== '' ? '***' : redactValue(v, depth + 1);
  return out;
}
