// Reading the display forms the gateway and the agent send: RFC 4514 distinguished names
// (certificate.subject / certificate.issuer) and validity periods.

function hexPair(s, i) {
  return /^[0-9a-fA-F]{2}$/.test(s.slice(i, i + 2)) ? parseInt(s.slice(i, i + 2), 16) : -1;
}

/**
 * Splits an RFC 4514 DN ("CN=A\, B,O=X+OU=Y,C=VN") into [[type, value], ...], undoing
 * backslash escapes (including \XX UTF-8 bytes). Never throws; odd input gives what it can.
 */
export function parseDn(dn) {
  const out = [];
  if (typeof dn !== "string") return out;
  let type = "";
  let bytes = [];
  let inValue = false;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const flush = () => {
    if (inValue) out.push([type.trim(), decoder.decode(new Uint8Array(bytes)).trim()]);
    type = "";
    bytes = [];
    inValue = false;
  };
  for (let i = 0; i < dn.length; i += 1) {
    const c = dn[i];
    if (!inValue) {
      if (c === "=") inValue = true;
      else type += c;
      continue;
    }
    if (c === "\\" && i + 1 < dn.length) {
      const byte = hexPair(dn, i + 1);
      if (byte >= 0) {
        bytes.push(byte);
        i += 2;
      } else {
        bytes.push(...encoder.encode(dn[i + 1]));
        i += 1;
      }
    } else if (c === "," || c === "+") {
      flush();
    } else {
      bytes.push(...encoder.encode(c));
    }
  }
  flush();
  return out;
}

/** The first value of attribute type (case-insensitive) in a DN, or undefined. */
export function dnValue(dn, type) {
  const wanted = type.toLowerCase();
  const hit = parseDn(dn).find(([t]) => t.toLowerCase() === wanted);
  return hit ? hit[1] : undefined;
}

/** A certificate provider's display name from an issuer DN: its CN, else its O. */
export function caName(issuerDn) {
  return dnValue(issuerDn, "CN") || dnValue(issuerDn, "O") || issuerDn || "";
}

/** "expired", "not_yet_valid" or "valid" for certificate facts at now. */
export function validityState(certificate, now = Date.now()) {
  if (!certificate) return "valid";
  const from = Date.parse(certificate.not_before);
  const to = Date.parse(certificate.not_after);
  if (!Number.isNaN(to) && now > to) return "expired";
  if (!Number.isNaN(from) && now < from) return "not_yet_valid";
  return "valid";
}
