// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Translations of the page. A catalogue is a flat JSON object of keys to strings; a string
// with plural forms is an object keyed by the Intl.PluralRules categories ("one", "other").
// Placeholders are written {name}.

const CATALOGUES = {
  en: 'en',
  zh_CN: 'zh-CN',
};

let strings = {};
let fallback = {};
let locale = 'en';
let plurals = new Intl.PluralRules('en');

/**
 * Picks the catalogue for the browser's preferred languages: the first language that has a
 * catalogue wins, English otherwise. Chinese written in the traditional script has no
 * catalogue yet, so it falls through to the next preferred language.
 */
export function pickLocale(languages) {
  for (const tag of languages || []) {
    const lower = String(tag).toLowerCase().replace('_', '-');
    if (lower === 'zh' || lower.startsWith('zh-cn') || lower.startsWith('zh-hans') ||
        lower.startsWith('zh-sg') || lower.startsWith('zh-my'))
      return 'zh_CN';
    if (lower === 'en' || lower.startsWith('en-'))
      return 'en';
  }
  return 'en';
}

async function fetchCatalogue(name) {
  const response = await fetch(`i18n/${name}.json`, { cache: 'no-cache' });
  if (!response.ok)
    throw new Error(`i18n/${name}.json: HTTP ${response.status}`);
  return response.json();
}

export async function loadTranslations(languages) {
  locale = pickLocale(languages);
  fallback = await fetchCatalogue('en');
  strings = locale === 'en' ? fallback : await fetchCatalogue(locale).catch(() => fallback);
  plurals = new Intl.PluralRules(CATALOGUES[locale]);
  document.documentElement.lang = CATALOGUES[locale];
  return locale;
}

/** The BCP 47 tag of the catalogue in use, for Intl formatters. */
export function languageTag() {
  return CATALOGUES[locale];
}

/** Translates @key, filling {placeholders} from @params; {count} also picks the plural form. */
export function t(key, params = {}) {
  let text = strings[key] ?? fallback[key];
  if (text === undefined)
    return key;
  if (typeof text === 'object') {
    const category = plurals.select(Number(params.count ?? 0));
    text = text[category] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : match);
}

/**
 * Translates the static markup: data-i18n sets the text, data-i18n-placeholder,
 * data-i18n-label (aria-label) and data-i18n-title set those attributes.
 */
export function translateTree(root) {
  for (const el of root.querySelectorAll('[data-i18n]'))
    el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]'))
    el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-label]'))
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-title]'))
    el.title = t(el.dataset.i18nTitle);
}
