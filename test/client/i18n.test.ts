import { describe, expect, it } from 'vitest';
import { en } from '../../client/src/i18n/en.ts';
import { zhCN } from '../../client/src/i18n/zh-CN.ts';
import { zhTW } from '../../client/src/i18n/zh-TW.ts';
import { pickLang, translate } from '../../client/src/i18n/i18n.ts';

describe('i18n', () => {
  it('every language has exactly the English keys, none empty', () => {
    for (const table of [zhCN, zhTW]) {
      expect(Object.keys(table).sort()).toEqual(Object.keys(en).sort());
      for (const value of Object.values(table)) expect(value.trim()).not.toBe('');
    }
  });

  it('keeps every {placeholder} of the English string', () => {
    for (const [key, value] of Object.entries(en)) {
      const vars = (value.match(/\{\w+\}/g) ?? []).sort();
      for (const table of [zhCN, zhTW]) {
        expect((table[key as keyof typeof en].match(/\{\w+\}/g) ?? []).sort(), key).toEqual(vars);
      }
    }
  });

  it('follows the browser language', () => {
    expect(pickLang(['zh-TW', 'en'])).toBe('zh-TW');
    expect(pickLang(['zh-Hant-HK'])).toBe('zh-TW');
    expect(pickLang(['zh-HK'])).toBe('zh-TW');
    expect(pickLang(['zh-Hans-CN'])).toBe('zh-CN');
    expect(pickLang(['zh'])).toBe('zh-CN');
    expect(pickLang(['fr-FR', 'en-GB'])).toBe('en');
    expect(pickLang(['de'])).toBe('en');
  });

  it('fills placeholders', () => {
    expect(translate('en', 'e2eeEncrypted', { epoch: 7 })).toBe('End-to-end encrypted (key epoch 7)');
    expect(translate('zh-CN', 'e2eeEncrypted', { epoch: 7 })).toContain('7');
  });
});
