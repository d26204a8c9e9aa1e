// Language choice (browser preference, overridable in the page) and string lookup with {placeholders}.
import { en, type StringKey, type Strings } from './en.ts';
import { zhCN } from './zh-CN.ts';
import { zhTW } from './zh-TW.ts';

export type Lang = 'en' | 'zh-CN' | 'zh-TW';
export const LANGS: readonly { id: Lang; label: string }[] = [
  { id: 'en', label: 'English' },
  { id: 'zh-CN', label: '简体中文' },
  { id: 'zh-TW', label: '繁體中文' },
];
const TABLES: Record<Lang, Strings> = { en, 'zh-CN': zhCN, 'zh-TW': zhTW };

/** Maps BCP 47 tags to our three tables: Hant scripts and TW/HK/MO regions read Traditional characters. */
export function pickLang(preferred: readonly string[]): Lang {
  for (const tag of preferred) {
    const t = tag.toLowerCase();
    if (t.startsWith('zh')) {
      return /hant|-tw|-hk|-mo/.test(t) ? 'zh-TW' : 'zh-CN';
    }
    if (t.startsWith('en')) return 'en';
  }
  return 'en';
}

export function translate(lang: Lang, key: StringKey, vars: Record<string, string | number> = {}): string {
  return TABLES[lang][key].replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

export type { StringKey };
