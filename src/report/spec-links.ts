/**
 * Links to the spec on docs.kernel.org. Sphinx (docutils) makes a section's anchor from its heading:
 * lower case, runs of other characters as '-', leading digits and dots dropped ("4.3 Unwinding across
 * interrupts and exceptions" → #unwinding-across-interrupts-and-exceptions). The catalogue's section
 * titles are not always headings ("Cover letter assumptions", "Identifying unwindable code (review)"),
 * so the anchor comes from the upstream section number's heading.
 */
import type { Requirement } from '../catalogue/types';

export const SPEC_URL = 'https://docs.kernel.org/livepatch/reliable-stacktrace.html';

/**
 * Upstream headings by number (Documentation/livepatch/reliable-stacktrace.rst after "Compile-time
 * analysis" became section 3; the reviewed text, /work/shared/spec, numbers Considerations 3 and on).
 */
export const UPSTREAM_HEADINGS: Readonly<Record<string, string>> = {
  '1': 'Introduction',
  '2': 'Requirements',
  '3': 'Compile-time analysis',
  '4': 'Considerations',
  '4.1': 'Identifying successful termination',
  '4.2': 'Identifying unwindable code',
  '4.3': 'Unwinding across interrupts and exceptions',
  '4.4': 'Rewriting of return addresses',
  '4.5': 'Obscuring of return addresses',
  '4.6': 'Link register unreliability',
};

/** The docutils id of a heading ("3.3 Unwinding across ..." → "unwinding-across-..."). */
export const specAnchor = (title: string): string =>
  title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^[-0-9]+|-+$/g, '');

/** The link to a requirement's section: its upstream heading, else its own title's anchor, else the page. */
export function specLink(section: Requirement['section']): { url: string; name: string } {
  const heading = UPSTREAM_HEADINGS[section.upstream];
  const anchor = heading ? specAnchor(heading) : specAnchor(section.title);
  return { url: anchor ? `${SPEC_URL}#${anchor}` : SPEC_URL, name: `spec ${section.original} / ${section.upstream} ${heading ?? section.title}` };
}

/** Anchors of every heading of an .rst text (for checking links without the network). */
export function rstAnchors(rst: string): Set<string> {
  const lines = rst.split('\n');
  const out = new Set<string>();
  for (let i = 0; i + 1 < lines.length; i++) {
    const t = lines[i]!.trim();
    const u = lines[i + 1]!.trim();
    if (t && /^([=\-~^"'`#*+])\1{2,}$/.test(u) && u.length >= t.length) out.add(specAnchor(t));
  }
  return out;
}
