// What a reader of the gateway's Japanese page sees outside the parts marked as English: a raw
// error or message kept for support is allowed (lang="en"); an English sentence anywhere else is
// the page speaking the wrong language.

const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
};

/** The visible text of a page, without its style, the elements marked lang="en", and its tags. */
export function textOutsideEnglish(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, ' ')
    .replace(/<(\w+)\b[^>]*\slang="en"[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!);
}

/**
 * English left in a Japanese page outside lang="en": runs of two or more English words ("server
 * unreachable", "has sent nothing"). Ids, units and codes are single tokens and do not count.
 */
export function englishOutsideLangEn(html: string): string[] {
  return textOutsideEnglish(html).match(/\b[A-Za-z]{2,}(?:[ \t,:;]+[A-Za-z][A-Za-z'’]*\b(?![-_]))+/g) ?? [];
}
