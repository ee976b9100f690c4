// Translations for the ES modules. Django's JavaScript catalog (a classic script, loaded before
// any module by base.html) defines `django.gettext` and friends for the page's language; without
// it every function returns the English text, so a module works on a page that lacks the catalog.
const catalog = globalThis.django;

/** The translation of `text`. */
export function gettext(text) {
  return catalog ? catalog.gettext(text) : text;
}

/** `singular` or `plural`, by `count`, translated. */
export function ngettext(singular, plural, count) {
  return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
}

/** `text` translated in `context` (pgettext), for words that translate differently by use. */
export function pgettext(context, text) {
  return catalog ? catalog.pgettext(context, text) : text;
}

/** Fill "%(name)s" placeholders from `values`: interpolate(gettext("Call %(name)s"), {name}). */
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key]));
}
