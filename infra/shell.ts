/** Quoting for the POSIX shell, shared by the env file and the remote commands. */

const SAFE_WORD = /^[A-Za-z0-9_./:=@%+,-]+$/;

/**
 * Single-quotes a word for sh (`'` becomes `'\''`). Words of safe characters stay bare, for
 * reading, unless `always` is set (the env file quotes every value, so its lines all read alike
 * and devbox-verify's parser sees one form).
 */
export function shellQuote(word: string, always = false): string {
  if (!always && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
