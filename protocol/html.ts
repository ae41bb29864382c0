// Text made safe to paste into HTML (element content or a quoted attribute): names, reasons and
// topics come from outside. Shared by the pages the gateway and the provisioning write by hand
// and by the map's attribution (Leaflet takes HTML there). null and undefined are empty.

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}
