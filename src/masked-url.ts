/**
 * URLs as messages show them: a password given in the URL
 * (`http://user:pw@host/…`, `redis://:pw@host`) is shown as `***`, in the URL
 * itself and in a message that quotes it (fetch's refusal of such a URL
 * quotes it whole). Terminals and logs are pasted and screen-shared. The CLI
 * and the Redis source use it.
 */

/** `url` as text, its password (if any) written `***`. */
export function maskedUrl(url: URL): string {
  if (url.password === '') return url.href;
  const masked = new URL(url.href);
  masked.password = '***';
  return masked.href;
}

/**
 * `text` with `url`'s password masked wherever it quotes it as part of a URL
 * (`user:pw@`), as written in the URL or percent-decoded. A password alone
 * is not searched for: a short one would mask letters of the message.
 */
export function withoutPassword(text: string, url: URL): string {
  if (url.password === '') return text;
  let decoded = url.password;
  try {
    decoded = decodeURIComponent(url.password);
  } catch {
    // Not valid percent-encoding: the URL form is the only form.
  }
  return [url.password, decoded].reduce((result, password) => result.replaceAll(`:${password}@`, ':***@'), text);
}
