/** Making text an unwinder under test controls safe to show anywhere. */

/**
 * Text a plugin controls (reasons, stderr, names) made inert for any writer: terminal escape sequences
 * and control characters other than newline and tab are dropped, and a CDATA end is broken apart.
 */
export const neutral = (s: string): string =>
  s
    .replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b./g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g, '')
    .replace(/\]\]>/g, ']] >');
